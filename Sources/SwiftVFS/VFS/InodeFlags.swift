/// The per-inode flags that chattr(1) sets and lsattr(1) shows (FS_*_FL in
/// linux/fs.h, the kernel's `i_flags` as FS_IOC_GETFLAGS reports them).
///
/// The kernel above a FUSE mount does not know them (fuse sends
/// FS_IOC_GETFLAGS/SETFLAGS down as FUSE_IOCTL and keeps nothing), so the VFS
/// enforces them itself, where the kernel's namei.c, open.c and attr.c would:
/// `checkMayModify` and friends below. Stored in `Inode.attributeFlags`,
/// guarded by the inode's lock.
public struct InodeFlags: OptionSet, Sendable, Hashable {
  /// The FS_*_FL bits, as FS_IOC_GETFLAGS reports them.
  public let rawValue: UInt32
  /// Flags from FS_*_FL bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// Secure deletion (FS_SECRM_FL, chattr s).
  public static let secureDelete = InodeFlags(rawValue: 0x1)  // FS_SECRM_FL, s
  /// Undeletable (FS_UNRM_FL, chattr u).
  public static let undelete = InodeFlags(rawValue: 0x2)  // FS_UNRM_FL, u
  /// Compress (FS_COMPR_FL, chattr c).
  public static let compress = InodeFlags(rawValue: 0x4)  // FS_COMPR_FL, c
  /// Synchronous updates (FS_SYNC_FL, chattr S).
  public static let sync = InodeFlags(rawValue: 0x8)  // FS_SYNC_FL, S
  /// Immutable (FS_IMMUTABLE_FL, chattr i): no change, link, rename or removal.
  public static let immutable = InodeFlags(rawValue: 0x10)  // FS_IMMUTABLE_FL, i
  /// Append only (FS_APPEND_FL, chattr a): writes only at the end.
  public static let appendOnly = InodeFlags(rawValue: 0x20)  // FS_APPEND_FL, a
  /// Not for dump(8) (FS_NODUMP_FL, chattr d).
  public static let noDump = InodeFlags(rawValue: 0x40)  // FS_NODUMP_FL, d
  /// No atime updates (FS_NOATIME_FL, chattr A).
  public static let noAtime = InodeFlags(rawValue: 0x80)  // FS_NOATIME_FL, A
  /// Direct access (FS_DAX_FL, chattr x).
  public static let dax = InodeFlags(rawValue: 0x0200_0000)  // FS_DAX_FL, x
  /// New entries inherit the project id (FS_PROJINHERIT_FL, chattr P).
  public static let projectInherit = InodeFlags(rawValue: 0x2000_0000)  // FS_PROJINHERIT_FL, P

  /// i or a: only CAP_LINUX_IMMUTABLE may set or clear them (fileattr_set_prepare()).
  public static let privileged: InodeFlags = [.immutable, .appendOnly]

  /// The flags that have an FS_XFLAG_* twin (FS_COMMON_FL), with that twin.
  static let xflagTwins: [(InodeFlags, UInt32)] = [
    (.sync, 0x20), (.immutable, 0x8), (.appendOnly, 0x10), (.noDump, 0x80), (.noAtime, 0x40),
    (.dax, 0x8000), (.projectInherit, 0x200),
  ]

  /// Like fileattr_fill_flags(): the FS_XFLAG_* bits FS_IOC_FSGETXATTR shows.
  var xflags: UInt32 {
    InodeFlags.xflagTwins.reduce(0) { contains($1.0) ? $0 | $1.1 : $0 }
  }

  /// Like fileattr_fill_xflags(): nil if `xflags` holds a bit with no twin.
  init?(xflags: UInt32) {
    var flags: InodeFlags = []
    var rest = xflags
    for (flag, x) in InodeFlags.xflagTwins where xflags & x != 0 {
      flags.insert(flag)
      rest &= ~x
    }
    guard rest == 0 else { return nil }
    self = flags
  }
}

/// The ioctl numbers of the flag calls (x86-64 encodings).
enum FlagsIoctl {
  static let getFlags: UInt32 = 0x8008_6601  // FS_IOC_GETFLAGS, _IOR('f', 1, long)
  static let setFlags: UInt32 = 0x4008_6602  // FS_IOC_SETFLAGS, _IOW('f', 2, long)
  static let getFlags32: UInt32 = 0x8004_6601  // FS_IOC32_GETFLAGS
  static let setFlags32: UInt32 = 0x4004_6602  // FS_IOC32_SETFLAGS
  static let getXattr: UInt32 = 0x801C_581F  // FS_IOC_FSGETXATTR, struct fsxattr (28 bytes)
  static let setXattr: UInt32 = 0x401C_5820  // FS_IOC_FSSETXATTR
  static let fsxattrSize = 28
}

extension Inode {
  /// The chattr flags, read under the inode's lock.
  public var flags: InodeFlags { lock.withLock { attributeFlags } }
}

extension VFS {
  // MARK: - Enforcing the flags (the kernel's IS_IMMUTABLE / IS_APPEND checks)

  /// Like inode_permission(MAY_WRITE) on an immutable inode, plus notify_change()
  /// and may_delete() for append-only ones: a change to the inode itself
  /// (its name, links, owner, mode, xattrs) is EPERM under i or a.
  func checkMayModify(_ inode: Inode) throws(Errno) {
    if !inode.flags.isDisjoint(with: [.immutable, .appendOnly]) { throw .EPERM }
  }

  /// Like may_create(): an immutable directory takes no new entries.
  func checkMayCreate(in dir: Inode) throws(Errno) {
    if dir.flags.contains(.immutable) { throw .EPERM }
  }

  /// Like may_delete(): a name goes from neither an immutable nor an
  /// append-only directory, and an immutable or append-only inode keeps its names.
  func checkMayDelete(_ victim: Inode, from dir: Inode) throws(Errno) {
    try checkMayModify(dir)
    try checkMayModify(victim)
  }

  /// Like may_open(): an immutable file is not opened for writing, an
  /// append-only one only with O_APPEND and never with O_TRUNC.
  func checkMayOpen(_ inode: Inode, flags: Int32) throws(Errno) {
    let f = inode.flags
    guard !f.isDisjoint(with: [.immutable, .appendOnly]) else { return }
    let writes = flags & OpenFlags.accessMode != 0
    if f.contains(.immutable), writes || flags & OpenFlags.truncate != 0 { throw .EPERM }
    if f.contains(.appendOnly) {
      if writes, flags & OpenFlags.append == 0 { throw .EPERM }
      if flags & OpenFlags.truncate != 0 { throw .EPERM }
    }
  }

  /// Like notify_change() with the checks of its callers: owner, mode and
  /// explicit times are EPERM under i or a (notify_change), a size change
  /// under either (vfs_truncate; ftruncate of a file opened before +i is
  /// allowed, as do_ftruncate() checks only IS_APPEND), and "now" times under
  /// i (inode_permission).
  func checkMaySetattr(_ inode: Inode, _ attr: SetAttr, throughFile: Bool = false) throws(Errno) {
    let f = inode.flags
    guard !f.isDisjoint(with: [.immutable, .appendOnly]) else { return }
    // Times with a ctime come only from the kernel's writeback cache writing
    // back the times it kept for a write (fuse_flush_times()), not from
    // utimes(2): refusing them would fail the write at close.
    if attr.ctime != nil, attr.mode == nil, attr.uid == nil, attr.gid == nil, attr.size == nil {
      return
    }
    var explicitTime = false
    var anyTime = false
    for change in [attr.atime, attr.mtime] {
      if let change {
        anyTime = true
        if case .to = change { explicitTime = true }
      }
    }
    if attr.mode != nil || attr.uid != nil || attr.gid != nil || explicitTime { throw .EPERM }
    if attr.size != nil, f.contains(.appendOnly) || !throughFile { throw .EPERM }
    if anyTime, f.contains(.immutable) { throw .EPERM }
  }

  /// Like vfs_fallocate(): nothing under i; under a, only a plain allocation.
  func checkMayFallocate(_ inode: Inode, mode: Int32) throws(Errno) {
    let f = inode.flags
    if f.contains(.immutable) { throw .EPERM }
    if f.contains(.appendOnly), mode & ~Fallocate.keepSize != 0 { throw .EPERM }
  }

  // MARK: - FS_IOC_GETFLAGS / SETFLAGS / FSGETXATTR / FSSETXATTR

  /// Like ioctl_getflags()/ioctl_setflags() and their fsxattr twins, which
  /// do_vfs_ioctl() serves before a file's own ioctl. nil: not one of them.
  /// The kernel's fuse sends them from fuse_fileattr_get/set (fs/fuse/ioctl.c)
  /// on a file it opens O_RDONLY for the purpose, 4 bytes for the flags and
  /// 28 for a struct fsxattr.
  func flagsIoctl(_ file: File, command: UInt32, input: UnsafeRawBufferPointer)
    throws(Errno) -> (result: Int32, output: [UInt8])?
  {
    let inode = file.inode
    switch command {
    case FlagsIoctl.getFlags, FlagsIoctl.getFlags32:
      let flags = try inode.ops.fileattrGet(inode)
      return (0, withUnsafeBytes(of: flags.rawValue.littleEndian) { Array($0) })
    case FlagsIoctl.setFlags, FlagsIoctl.setFlags32:
      guard input.count >= 4 else { throw .EINVAL }
      let raw = input.loadUnaligned(as: UInt32.self)
      try setFlags(inode, InodeFlags(rawValue: UInt32(littleEndian: raw)), cred: file.cred)
      return (0, [])
    case FlagsIoctl.getXattr:
      let flags = try inode.ops.fileattrGet(inode)
      var out = [UInt8](repeating: 0, count: FlagsIoctl.fsxattrSize)
      withUnsafeBytes(of: flags.xflags.littleEndian) { out.replaceSubrange(0..<4, with: $0) }
      return (0, out)
    case FlagsIoctl.setXattr:
      guard input.count >= FlagsIoctl.fsxattrSize else { throw .EINVAL }
      let words = (0..<5).map {
        UInt32(littleEndian: input.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))
      }
      // Like shmem_fileattr_set(): an extent size, project id or an xflag
      // with no FS_*_FL twin is more than the flags can say (fileattr_has_fsx).
      guard words[1] == 0, words[3] == 0, words[4] == 0, let flags = InodeFlags(xflags: words[0])
      else { throw .EOPNOTSUPP }
      try setFlags(inode, flags, cred: file.cred)
      return (0, [])
    default:
      return nil
    }
  }

  /// Like vfs_fileattr_set(): the owner or root only; i and a change only
  /// for root (CAP_LINUX_IMMUTABLE); then the file system's ->fileattr_set,
  /// which refuses what it does not keep.
  public func setFlags(_ inode: Inode, _ flags: InodeFlags, cred: Cred) throws(Errno) {
    guard !inode.sb.readOnly else { throw .EROFS }
    let owner = inode.lock.withLock { inode.uid }
    guard cred.isRoot || cred.uid == owner else { throw .EPERM }
    let old = try inode.ops.fileattrGet(inode)
    if !flags.symmetricDifference(old).isDisjoint(with: .privileged), !cred.isRoot {
      throw .EPERM
    }
    try inode.ops.fileattrSet(inode, flags)
  }
}
