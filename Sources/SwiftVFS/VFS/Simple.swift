/// Default implementations a file system names explicitly, like fs/libfs.c.
/// Each says what it does and what it does not.
public enum Simple {
  /// Like generic_fillattr(): the inode's fields as they are.
  public static func getattr(_ inode: Inode) -> Stat {
    inode.lock.withLock {
      Stat(
        ino: inode.ino, mode: inode.mode, nlink: inode.nlink, uid: inode.uid, gid: inode.gid,
        rdev: inode.rdev, size: inode.size, blocks: inode.blocks,
        blockSize: Int32(inode.sb.blockSize), atime: inode.atime, mtime: inode.mtime,
        ctime: inode.ctime, generation: inode.generation, btime: inode.btime)
    }
  }

  /// Like setattr_copy(): applies mode, owner and times, and sets ctime (to
  /// the time given, or now). It does not change the size: a request with a
  /// size is EPERM here; a file system with data handles the size itself and
  /// passes the rest on. Permission checks are the kernel's (default_permissions).
  public static func setattr(_ inode: Inode, _ attr: SetAttr) throws(Errno) {
    if attr.size != nil { throw .EPERM }
    inode.lock.withLock { applyLocked(inode, attr) }
  }

  /// The part of setattr_copy() that needs no storage; caller holds inode.lock.
  public static func applyLocked(_ inode: Inode, _ attr: SetAttr, now: Timestamp = .now) {
    if let mode = attr.mode {
      inode.mode = inode.mode & FileType.mask | mode & ModeBits.permissions
    }
    if let uid = attr.uid { inode.uid = uid }
    if let gid = attr.gid { inode.gid = gid }
    switch attr.atime {
    case .now: inode.atime = now
    case .to(let t): inode.atime = t
    case nil: break
    }
    switch attr.mtime {
    case .now: inode.mtime = now
    case .to(let t): inode.mtime = t
    case nil: break
    }
    if !attr.isEmpty { inode.ctime = attr.ctime ?? now }
  }

  /// Like dir_emit_dots(): emits "." (cookie 1) and ".." (cookie 2) if the
  /// listing starts before them. Returns false if `emit` stopped (the buffer
  /// is full): the caller returns too. A directory's own entries then take
  /// cookies from 3 on. ".." of a file system's root names the root itself.
  public static func emitDots(
    _ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool
  ) -> Bool {
    let dir = file.inode
    if offset < 1,
      !emit(DirEntry(name: ".", ino: dir.ino, type: .directory, offset: 1, inode: nil))
    {
      return false
    }
    if offset < 2 {
      let parent = dir.parentDirectory ?? dir
      return emit(DirEntry(name: "..", ino: parent.ino, type: .directory, offset: 2, inode: nil))
    }
    return true
  }

  /// Like simple_statfs(), with the superblock's limits and usage.
  public static func statfs(_ sb: SuperBlock) -> StatFS {
    let usedBlocks = sb.usedBlocks
    let usedInodes = sb.usedInodes
    let blocks = sb.maxBlocks ?? max(usedBlocks, 1)
    let files = sb.maxInodes ?? max(usedInodes, 1)
    let freeBlocks = blocks > usedBlocks ? blocks - usedBlocks : 0
    let freeFiles = files > usedInodes ? files - usedInodes : 0
    return StatFS(
      blockSize: UInt64(sb.blockSize), blocks: blocks, blocksFree: freeBlocks,
      blocksAvailable: freeBlocks, files: files, filesFree: freeFiles,
      nameMax: UInt64(FileName.maxLength))
  }

  /// Like generic_file_llseek() for the whences FUSE forwards: SEEK_DATA sees
  /// the whole file as data, SEEK_HOLE finds the hole at its end.
  public static func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 {
    let size = file.inode.lock.withLock { file.inode.size }
    switch whence {
    case Whence.set:
      guard offset >= 0 else { throw .EINVAL }
      return offset
    case Whence.end:
      guard size.addingReportingOverflow(offset).overflow == false, size + offset >= 0 else {
        throw .EINVAL
      }
      return size + offset
    case Whence.data:
      guard offset >= 0, offset < size else { throw .ENXIO }
      return offset
    case Whence.hole:
      guard offset >= 0, offset < size else { throw .ENXIO }
      return size
    default:
      throw .EINVAL
    }
  }

  // MARK: - Extended attributes (like simple_xattr_get/set/list)

  /// The namespaces kept: user., trusted., security. (system.* and names
  /// without a known prefix are EOPNOTSUPP, as on tmpfs).
  public static let xattrPrefixes = ["user.", "trusted.", "security."]
  /// The longest xattr name in bytes (XATTR_NAME_MAX).
  public static let xattrNameMax = 255  // XATTR_NAME_MAX
  /// The largest xattr value in bytes (XATTR_SIZE_MAX).
  public static let xattrSizeMax = 65536  // XATTR_SIZE_MAX
  /// Total bytes of names and values one inode may hold (ENOSPC past it).
  public static let xattrInodeMax = 1 << 20

  static func checkXattrName(_ name: String) throws(Errno) {
    // An empty or too long name is ERANGE, as setxattr(2)'s name copy answers.
    guard !name.isEmpty, name.utf8.count <= xattrNameMax else { throw .ERANGE }
    guard let prefix = xattrPrefixes.first(where: { name.hasPrefix($0) }) else {
      throw .EOPNOTSUPP
    }
    // A namespace with nothing after it ("user.") is EINVAL, as
    // xattr_resolve_name() answers.
    guard name.utf8.count > prefix.utf8.count else { throw .EINVAL }
  }

  /// Like simple_xattr_get(): the value of `name`, or ENODATA.
  public static func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8] {
    try checkXattrName(name)
    guard let value = inode.lock.withLock({ inode.xattrs[name] }) else { throw .ENODATA }
    return value
  }

  /// Like simple_xattr_set(): sets `name`, with XATTR_CREATE/REPLACE and the size limits.
  public static func setxattr(
    _ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags
  ) throws(Errno) {
    try checkXattrName(name)
    guard flags.rawValue & ~3 == 0 else { throw .EINVAL }
    guard value.count <= xattrSizeMax else { throw .E2BIG }
    try inode.lock.withLock { () throws(Errno) in
      let old = inode.xattrs[name]
      if flags.contains(.create), old != nil { throw .EEXIST }
      if flags.contains(.replace), old == nil { throw .ENODATA }
      let grow = name.utf8.count + value.count - (old.map { name.utf8.count + $0.count } ?? 0)
      if grow > 0, inode.xattrs.totalSize + grow > xattrInodeMax { throw .ENOSPC }
      inode.xattrs[name] = value
      inode.touchChanged()
    }
  }

  /// Like simple_xattr_list(): the names held, sorted.
  public static func listxattr(_ inode: Inode) -> [String] {
    inode.lock.withLock { inode.xattrs.values.keys.sorted() }
  }

  /// Removes `name`, or ENODATA if it is absent.
  public static func removexattr(_ inode: Inode, _ name: String) throws(Errno) {
    try checkXattrName(name)
    try inode.lock.withLock { () throws(Errno) in
      guard inode.xattrs[name] != nil else { throw .ENODATA }
      inode.xattrs[name] = nil
      inode.touchChanged()
    }
  }
}

/// lseek(2) whence values.
public enum Whence {
  /// From the start of the file (SEEK_SET).
  public static let set: Int32 = 0
  /// From the current position (SEEK_CUR).
  public static let current: Int32 = 1
  /// From the end of the file (SEEK_END).
  public static let end: Int32 = 2
  /// To the next data at or after the offset (SEEK_DATA).
  public static let data: Int32 = 3
  /// To the next hole at or after the offset (SEEK_HOLE).
  public static let hole: Int32 = 4
}

/// Opt-in: extended attributes kept in the inode itself (`Inode.xattrs`), in
/// the user., trusted. and security. namespaces, like tmpfs's simple_xattrs.
public protocol SimpleXattrs: InodeOperations {}

extension SimpleXattrs {
  /// Linux: simple_xattr_get, through `Simple.getxattr`.
  public func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8] {
    try Simple.getxattr(inode, name)
  }
  /// Linux: simple_xattr_set, through `Simple.setxattr`.
  public func setxattr(_ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags)
    throws(Errno)
  {
    try Simple.setxattr(inode, name, value, flags: flags)
  }
  /// Linux: simple_xattr_list, through `Simple.listxattr`.
  public func listxattr(_ inode: Inode) throws(Errno) -> [String] { Simple.listxattr(inode) }
  /// Removes an attribute, through `Simple.removexattr`.
  public func removexattr(_ inode: Inode, _ name: String) throws(Errno) {
    try Simple.removexattr(inode, name)
  }
}
