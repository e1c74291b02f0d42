import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// memfs: an in-memory POSIX file system, like tmpfs (mm/shmem.c) and ramfs
/// (fs/ramfs/inode.c). Short, because the VFS and `Simple` carry most of it.
///
/// Mount options, as tmpfs takes them: `size=` (bytes with k/m/g, or a % of
/// RAM; default 50%), `nr_inodes=` (default: half the RAM's pages), `mode=`
/// (root's, octal; default 1777), `uid=`, `gid=` (root's owner). A size or
/// nr_inodes of 0 means no limit.
public final class MemfsType: FileSystemType {
  /// "memfs", the name /proc/filesystems and mount(8) use.
  public let name = "memfs"
  /// TMPFS_MAGIC, as statfs reports f_type.
  public static let magic: UInt64 = 0x0102_1994

  /// The machine's RAM in pages (totalram_pages()), which the defaults are
  /// halves of; a parameter so a test can ask for any page count.
  let ramPages: UInt64

  /// The memfs type, to register with `VFS.filesystems`.
  public init() {
    ramPages = UInt64(sysconf(Int32(_SC_PHYS_PAGES)))
  }

  init(ramPages: UInt64) {
    self.ramPages = ramPages
  }

  /// Like shmem_fill_super(): a superblock with the size=, nr_inodes=, mode=,
  /// uid= and gid= options, and an empty root.
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let options = context.options
    let pageSize = UInt64(PageStore.pageSize)
    // Counted in pages as shmem does: the default is half the RAM's pages,
    // rounded down (shmem_default_max_blocks); a size in bytes or in % of the
    // RAM is rounded up to whole pages (DIV_ROUND_UP in shmem_parse_one).
    let size = try options.size("size", percentOf: ramPages * pageSize)
    let maxBlocks = size.map { $0 == 0 ? nil : ($0 + pageSize - 1) / pageSize } ?? ramPages / 2
    let inodes = try options.count("nr_inodes") ?? ramPages / 2
    let mode = try options.octal("mode") ?? 0o1777
    let uid = try options.id("uid") ?? context.cred.uid
    let gid = try options.id("gid") ?? context.cred.gid
    guard mode <= 0o7777 else { throw .EINVAL }

    let sb = SuperBlock(
      fsType: self, ops: MemfsSuperOperations(), context: context, magic: MemfsType.magic,
      blockSize: PageStore.pageSize, maxFileSize: Int64.max,
      maxBlocks: maxBlocks,
      maxInodes: inodes == 0 ? nil : inodes)
    sb.posixAcl = true  // like tmpfs's SB_POSIXACL: the VFS keeps the ACLs
    let root = try Memfs.newInode(
      sb, mode: FileType.directory.rawValue | mode, cred: Cred(uid: uid, gid: gid))
    sb.setRoot(root)
    return sb
  }
}

/// The pieces of memfs shared by its operation tables.
enum Memfs {
  static let directoryOps = MemfsDirectoryOperations()
  static let fileOps = MemfsFileOperations()
  static let symlinkOps = MemfsSymlinkOperations()
  static let specialOps = MemfsSpecialOperations()

  /// Like shmem_get_inode(): a new inode with the tables for its type, born
  /// now (tmpfs's i_crtime, shown by statx as the birth time).
  static func newInode(
    _ sb: SuperBlock, mode: UInt32, cred: Cred, rdev: DevT = .zero
  ) throws(Errno) -> Inode {
    let inode = try newInodeOfType(sb, mode: mode, cred: cred, rdev: rdev)
    inode.lock.withLock { inode.btime = inode.ctime }
    return inode
  }

  private static func newInodeOfType(
    _ sb: SuperBlock, mode: UInt32, cred: Cred, rdev: DevT
  ) throws(Errno) -> Inode {
    switch FileType(mode: mode) {
    case .directory:
      let inode = try sb.newInode(
        mode: mode, cred: cred, ops: directoryOps, fileOps: directoryOps)
      inode.privateData = MemfsDirectory()
      inode.size = 2 * Memfs.direntSize
      return inode
    case .regular:
      let inode = try sb.newInode(mode: mode, cred: cred, ops: fileOps, fileOps: fileOps)
      inode.privateData = PageStore()
      return inode
    case .symlink:
      return try sb.newInode(mode: mode, cred: cred, ops: symlinkOps, fileOps: NoFileOperations())
    default:
      return try sb.newInode(
        mode: mode, cred: cred, rdev: rdev, ops: specialOps, fileOps: NoFileOperations())
    }
  }

  /// BOGO_DIRENT_SIZE: tmpfs counts 20 bytes of directory size per entry
  /// (and two for "." and ".."), so `ls -l` shows the same sizes here.
  static let direntSize: Int64 = 20

  static func directory(_ inode: Inode) -> MemfsDirectory {
    unsafeDowncast(inode.privateData!, to: MemfsDirectory.self)
  }

  static func pages(_ inode: Inode) -> PageStore {
    unsafeDowncast(inode.privateData!, to: PageStore.self)
  }

  /// Like inode_init_owner(): the caller owns a new node; a setgid directory
  /// passes its group down, and its setgid bit to subdirectories.
  static func initOwner(_ dir: Inode, mode: UInt32, cred: Cred) -> (mode: UInt32, cred: Cred) {
    var mode = mode
    var owner = cred
    dir.lock.withLock {
      if dir.mode & ModeBits.setgid != 0 {
        owner.gid = dir.gid
        if FileType(mode: mode) == .directory { mode |= ModeBits.setgid }
      }
    }
    return (mode, owner)
  }

  /// Like file_accessed(): atime moves as the mount's atime flags say
  /// (`AtimePolicy`). Caller holds the inode's lock.
  static func touchAccessedLocked(_ inode: Inode) {
    inode.touchAtimeLocked()
  }
}

struct MemfsSuperOperations: SuperOperations {
  /// Sizes and st_blocks agree with the stored pages; no page past the end.
  func check(_ inode: Inode) -> [String] {
    inode.lock.withLock {
      var problems: [String] = []
      switch inode.type {
      case .regular:
        let store = Memfs.pages(inode)
        if inode.blocks != Int64(store.pageCount) * 8 {
          problems.append(
            "memfs: inode \(inode.ino) st_blocks \(inode.blocks), \(store.pageCount) pages")
        }
      // Pages past the end are allowed: fallocate with KEEP_SIZE puts them there.
      case .directory:
        let expected = (2 + Int64(Memfs.directory(inode).count)) * Memfs.direntSize
        if inode.nlink > 0, inode.size != expected {
          problems.append("memfs: dir \(inode.ino) size \(inode.size), expected \(expected)")
        }
      default:
        break
      }
      return problems
    }
  }

  func blocksHeld(_ inodes: [Inode]) -> UInt64? {
    inodes.reduce(0) { sum, inode in
      inode.type == .regular
        ? sum + UInt64(inode.lock.withLock { Memfs.pages(inode).pageCount }) : sum
    }
  }

  func listDirectory(_ dir: Inode) -> [(FileName, Inode)]? {
    Memfs.directory(dir).slots.compactMap { $0.map { ($0.name, $0.inode) } }
  }

  /// Like shmem_evict_inode(): the data goes back to the superblock.
  func evictInode(_ inode: Inode) {
    if inode.type == .regular {
      inode.lock.withLock {
        Memfs.pages(inode).freeAll(sb: inode.sb)
        inode.blocks = 0
      }
    }
    inode.sb.releaseInode()
  }
}

/// Directories: the namespace operations, and readdir.
struct MemfsDirectoryOperations: SimpleXattrs, FileOperations {
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    Memfs.directory(dir).lookup(name)
  }

  /// Like shmem_mknod(): make the inode, add the entry, touch the parent.
  func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred) throws(Errno)
    -> Inode
  {
    let (mode, owner) = Memfs.initOwner(dir, mode: mode, cred: cred)
    let inode = try Memfs.newInode(dir.sb, mode: mode, cred: owner, rdev: rdev)
    MemfsFlags.inherit(inode, from: dir)
    addEntry(dir, name, inode, isDirectory: inode.isDirectory)
    return inode
  }

  func create(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    try mknod(dir, name, mode: mode, rdev: .zero, cred: cred)
  }

  func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    try mknod(dir, name, mode: FileType.directory.rawValue | mode, rdev: .zero, cred: cred)
  }

  func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno) -> Inode {
    let (_, owner) = Memfs.initOwner(dir, mode: 0, cred: cred)
    let inode = try Memfs.newInode(dir.sb, mode: FileType.symlink.rawValue | 0o777, cred: owner)
    MemfsFlags.inherit(inode, from: dir)
    inode.lock.withLock {
      inode.privateData = SymlinkTarget(target)
      inode.size = Int64(target.count)
    }
    addEntry(dir, name, inode, isDirectory: false)
    return inode
  }

  /// Like shmem_tmpfile(): a regular file with no name and nlink 0 (the
  /// VFS opens it); its inode is charged against nr_inodes as any file's.
  func tmpfile(_ dir: Inode, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    let (mode, owner) = Memfs.initOwner(dir, mode: FileType.regular.rawValue | mode, cred: cred)
    let inode = try Memfs.newInode(dir.sb, mode: mode, cred: owner)
    MemfsFlags.inherit(inode, from: dir)
    inode.lock.withLock { inode.nlink = 0 }
    return inode
  }

  /// Like shmem_link(): as tmpfs does, each extra name of a file is charged
  /// against nr_inodes (it costs a dentry's memory), and given back on unlink.
  /// The first name of an O_TMPFILE inode (nlink 0) is its own inode's charge.
  func link(_ inode: Inode, _ dir: Inode, _ name: FileName) throws(Errno) {
    if inode.lock.withLock({ inode.nlink > 0 }) { try dir.sb.reserveInode() }
    let now = Timestamp.now
    inode.lock.withLock {
      inode.nlink += 1
      inode.ctime = now
    }
    addEntry(dir, name, inode, isDirectory: false, now: now)
  }

  /// Like simple_unlink().
  func unlink(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    let now = Timestamp.now
    Memfs.directory(dir).remove(name, compact: true)
    let hadOtherNames = victim.lock.withLock {
      victim.nlink -= 1
      victim.ctime = now
      return victim.nlink > 0
    }
    if hadOtherNames { dir.sb.releaseInode() }
    dir.lock.withLock {
      dir.size -= Memfs.direntSize
      dir.touchModified(now)
    }
  }

  /// Like simple_rmdir(): only an empty directory goes.
  func rmdir(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    guard Memfs.directory(victim).isEmpty else { throw .ENOTEMPTY }
    let now = Timestamp.now
    Memfs.directory(dir).remove(name, compact: true)
    victim.lock.withLock {
      victim.nlink = 0
      victim.ctime = now
    }
    dir.lock.withLock {
      dir.nlink -= 1
      dir.size -= Memfs.direntSize
      dir.touchModified(now)
    }
  }

  /// Like simple_rename() and simple_rename_exchange().
  func rename(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags
  ) throws(Errno) {
    let now = Timestamp.now
    let from = Memfs.directory(oldDir)
    let to = Memfs.directory(newDir)
    if flags.contains(.exchange), let target {
      from.replace(oldName, with: target)
      to.replace(newName, with: inode)
      if oldDir !== newDir, inode.isDirectory != target.isDirectory {
        let (gains, loses) = inode.isDirectory ? (newDir, oldDir) : (oldDir, newDir)
        gains.lock.withLock { gains.nlink += 1 }
        loses.lock.withLock { loses.nlink -= 1 }
      }
      target.lock.withLock { target.ctime = now }
    } else {
      if let target {
        if target.isDirectory {
          guard Memfs.directory(target).isEmpty else { throw .ENOTEMPTY }
        }
        let hadOtherNames = target.lock.withLock {
          target.nlink = target.isDirectory ? 0 : target.nlink - 1
          target.ctime = now
          return target.nlink > 0
        }
        if hadOtherNames { newDir.sb.releaseInode() }
        if target.isDirectory { newDir.lock.withLock { newDir.nlink -= 1 } }
      }
      from.remove(oldName, compact: false)
      oldDir.lock.withLock { oldDir.size -= Memfs.direntSize }
      if target == nil { newDir.lock.withLock { newDir.size += Memfs.direntSize } }
      to.replace(newName, with: inode)
      if inode.isDirectory, oldDir !== newDir {
        oldDir.lock.withLock { oldDir.nlink -= 1 }
        newDir.lock.withLock { newDir.nlink += 1 }
      }
    }
    inode.lock.withLock { inode.ctime = now }
    oldDir.lock.withLock { oldDir.touchModified(now) }
    if newDir !== oldDir { newDir.lock.withLock { newDir.touchModified(now) } }
  }

  private func addEntry(
    _ dir: Inode, _ name: FileName, _ inode: Inode, isDirectory: Bool, now: Timestamp = .now
  ) {
    Memfs.directory(dir).insert(name, inode)
    dir.lock.withLock {
      if isDirectory { dir.nlink += 1 }
      dir.size += Memfs.direntSize
      dir.touchModified(now)
    }
  }

  // MARK: File operations of an open directory

  /// The kernel may cache listings: every change to a memfs directory goes
  /// through the kernel, which then drops its cached copy.
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    Memfs.directory(inode).openCount.add(1, ordering: .relaxed)
    file.cacheDirectory = true
    file.privateData = MemfsListing()
  }

  func release(_ inode: Inode, _ file: File) {
    Memfs.directory(inode).openCount.subtract(1, ordering: .relaxed)
  }

  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}

  /// Like dcache_readdir(): ".", "..", then the entries from the slot the
  /// cookie names, under the namespace lock so the slots hold still.
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    try iterate(file, from: offset, inodes: true, emit)
  }

  /// `iterate`; with `inodes` false, entries other than directories and
  /// character devices come without their inode, their number and type
  /// read from the slot: a listing of names touches no inode.
  func iterate(
    _ file: File, from offset: Int64, inodes: Bool, _ emit: (DirEntry) -> Bool
  ) throws(Errno) {
    let dir = file.inode
    dir.sb.namespaceLock.withReadLock {
      guard Simple.emitDots(file, from: offset, emit) else { return }
      let slots = Memfs.directory(dir).slots
      var i = MemfsDirectory.slot(forCookie: offset)
      let end = (file.privateData as? MemfsListing)?.end(startingAt: offset, slots: slots.count)
      while i < min(end ?? slots.count, slots.count) {
        // Field by field: copying the whole slot would retain its inode.
        if let type = slots[i]?.type, let name = slots[i]?.name, let ino = slots[i]?.ino {
          let keep = inodes || type == .directory || type == .characterDevice
          let entry = DirEntry(
            name: name, ino: ino, type: type, offset: MemfsDirectory.cookie(afterSlot: i),
            inode: keep ? slots[i]?.inode : nil)
          guard emit(entry) else { break }
        }
        i += 1
      }
    }
  }
}

/// Regular files: data in a `PageStore`.
struct MemfsFileOperations: SimpleXattrs, FileOperations {
  /// Like shmem_setattr(): a size change truncates or extends the pages and
  /// moves mtime and ctime; the rest is `Simple`'s.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    inode.lock.withLock {
      let now = Timestamp.now
      if let size = attr.size {
        let store = Memfs.pages(inode)
        if size < inode.size { store.truncate(to: size, sb: inode.sb) }
        inode.size = size
        inode.blocks = Int64(store.pageCount) * 8
        inode.touchModified(now)
      }
      Simple.applyLocked(inode, attr, now: now)
    }
  }

  /// The kernel's page cache may keep what it read: every change to a memfs
  /// file goes through the kernel, so its cached pages stay true.
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    file.keepCache = true
    file.noFlush = true
  }

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    let inode = file.inode
    return inode.lock.withLock {
      let n = Memfs.pages(inode).read(into: buffer, at: offset, size: inode.size)
      Memfs.touchAccessedLocked(inode)
      return n
    }
  }

  /// The pages themselves go to the kernel, under the inode's lock.
  func spliceRead(
    _ file: File, at offset: Int64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) -> Bool {
    let inode = file.inode
    inode.lock.withLock {
      Memfs.pages(inode).withSlices(at: offset, count: count, size: inode.size, sink)
      Memfs.touchAccessedLocked(inode)
    }
    return true
  }

  /// Like shmem_file_write_iter(): EFBIG past the superblock's max file size;
  /// O_APPEND writes at the end; a short write when space runs out.
  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    let inode = file.inode
    return try inode.lock.withLock { () throws(Errno) -> Int in
      let start = file.isAppend ? inode.size : offset
      guard buffer.count > 0 else { return 0 }
      let (end, overflow) = start.addingReportingOverflow(Int64(buffer.count))
      guard !overflow, end <= inode.sb.maxFileSize else { throw .EFBIG }
      let store = Memfs.pages(inode)
      let n = try store.write(from: buffer, at: start, sb: inode.sb)
      inode.size = max(inode.size, start + Int64(n))
      inode.blocks = Int64(store.pageCount) * 8
      inode.touchModified()
      return n
    }
  }

  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}

  /// SEEK_DATA / SEEK_HOLE from the pages held (like shmem_file_llseek()).
  func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 {
    guard whence == Whence.data || whence == Whence.hole else {
      return try Simple.llseek(file, offset: offset, whence: whence)
    }
    let inode = file.inode
    return try inode.lock.withLock { () throws(Errno) -> Int64 in
      guard offset >= 0, offset < inode.size else { throw .ENXIO }
      let store = Memfs.pages(inode)
      if whence == Whence.data {
        guard let pos = store.seekData(from: offset, size: inode.size) else { throw .ENXIO }
        return pos
      }
      return store.seekHole(from: offset, size: inode.size)
    }
  }

  /// Like shmem_fallocate(): allocate (optionally past the end, with
  /// KEEP_SIZE not moving the size), or punch a hole.
  func fallocate(_ file: File, mode: Int32, offset: Int64, length: Int64) throws(Errno) {
    let inode = file.inode
    try inode.lock.withLock { () throws(Errno) in
      let store = Memfs.pages(inode)
      if mode & Fallocate.punchHole != 0 {
        // The whole range, past the end too: KEEP_SIZE may have put pages there.
        store.punchHole(offset: offset, length: length, sb: inode.sb)
      } else {
        try store.allocate(offset: offset, length: length, sb: inode.sb)
        if mode & Fallocate.keepSize == 0 { inode.size = max(inode.size, offset + length) }
      }
      inode.blocks = Int64(store.pageCount) * 8
      inode.touchChanged()
      if mode & Fallocate.punchHole != 0 { inode.mtime = inode.ctime }
    }
  }
}

/// A symlink's target (its page, in ramfs).
final class SymlinkTarget {
  let bytes: [UInt8]
  init(_ bytes: [UInt8]) { self.bytes = bytes }
}

struct MemfsSymlinkOperations: SimpleXattrs {
  func readlink(_ inode: Inode) throws(Errno) -> [UInt8] {
    inode.lock.withLock {
      Memfs.touchAccessedLocked(inode)
      return (inode.privateData as! SymlinkTarget).bytes
    }
  }
}

/// FIFOs, sockets and device nodes: attributes and xattrs only; the kernel
/// (or, for char devices, the chrdev registry) serves their opens.
struct MemfsSpecialOperations: SimpleXattrs {}
