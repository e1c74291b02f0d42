import Synchronization

/// One mounted instance of a file system, like `struct super_block`.
///
/// Holds the root inode, the limits (`size=` as blocks, `nr_inodes=`), the
/// usage counted against them, and the namespace lock.
///
/// Locking: `namespaceLock` is taken for writing by every change to any
/// directory's entries in this superblock (create, link, unlink, rename...),
/// and for reading by lookups that miss the dcache and by readdir. It is the
/// outermost lock (like the kernel's s_vfs_rename_mutex plus i_rwsem), so
/// namespace changes never deadlock. `usage` has its own small lock.
public final class SuperBlock: @unchecked Sendable {
  /// The type that mounted it (s_type).
  public let fsType: FileSystemType
  /// The superblock operations (s_op).
  public let ops: SuperOperations
  /// s_dev: a small number that identifies this superblock in the VFS.
  public let id: Int
  /// The file system's magic number, as statfs(2) reports it in f_type.
  public let magic: UInt64
  /// The block size in bytes (s_blocksize).
  public let blockSize: Int
  /// s_maxbytes.
  public let maxFileSize: Int64
  /// The options it was mounted with.
  public let options: MountOptions
  /// Mounted read-only (SB_RDONLY): the VFS answers EROFS to every change.
  public let readOnly: Bool
  /// The namespace lock: shared for lookup and readdir, exclusive for entry changes.
  public let namespaceLock = RWLock()
  /// SB_POSIXACL: the VFS keeps POSIX ACLs for this file system's inodes
  /// (PosixAcl.swift). Set by the file system type's `mount`, before use.
  public var posixAcl = false
  /// s_fs_info: the file system's own data.
  public var privateData: AnyObject?

  /// The root directory; set once by the file system type's `mount`.
  public var root: Inode {
    guard let root = root_ else { preconditionFailure("superblock has no root") }
    return root
  }
  private var root_: Inode?

  /// Limits, in blocks of `blockSize` and in inodes; nil is unlimited.
  public let maxBlocks: UInt64?
  /// The most inodes it may hold (nr_inodes=), nil: no limit.
  public let maxInodes: UInt64?

  /// The most inodes of this superblock the inode cache keeps in memory
  /// for the kernel's lookups (nil: every one, as a memory file system
  /// must). A disk file system sets it: past it, the cache lets idle
  /// inodes go (those `SuperOperations.dropInode` allows) and loads them
  /// again with `SuperOperations.inodeForHandle` when the kernel names
  /// one, as the kernel's inode shrinker (prune_icache_sb()) frees clean
  /// unused inodes; so the daemon's memory does not grow with every file
  /// the kernel has seen.
  public var maxCachedInodes: Int? {
    get { usageLock.withLock { maxCachedInodes_ } }
    set { usageLock.withLock { maxCachedInodes_ = newValue.map { max($0, 1) } } }
  }
  private var maxCachedInodes_: Int?

  private let usageLock = Lock()
  private var usedBlocks_: UInt64 = 0
  private var usedInodes_: UInt64 = 0
  private var evictedInodes_: UInt64 = 0

  private let numbers: InodeNumbers
  /// The mount's atime flags (see `atimePolicy`), read on every access.
  let atimeFlags = Atomic<UInt8>(AtimePolicy.default.rawValue)

  /// Every inode of this superblock not yet evicted, by number: what a file
  /// handle may name after the kernel forgot the inode (tmpfs finds it in
  /// the inode hash, shmem_fh_to_dentry()). Strong, as a directory entry
  /// is: an inode enters in `newInode` and leaves when it is evicted, so
  /// nothing here outlives its last link and last close.
  private let liveLock = Lock()
  private var live: [UInt64: Inode] = [:]
  /// Whether `newInode` indexes inodes: right for a file system whose inodes
  /// live in memory as long as they have links (memfs, proc). One that makes
  /// inodes on demand and lets them go (read from a disk) passes false: the
  /// index would keep them all; it numbers its inodes itself
  /// (`useOwnInodeNumbers`) and finds one again for a handle with
  /// `SuperOperations.inodeForHandle`.
  public let indexesInodes: Bool

  /// A superblock with its limits; the file system type sets its root with `setRoot`.
  public init(
    fsType: FileSystemType, ops: SuperOperations, context: MountContext, magic: UInt64,
    blockSize: Int = 4096, maxFileSize: Int64 = Int64.max, maxBlocks: UInt64? = nil,
    maxInodes: UInt64? = nil, indexesInodes: Bool = true
  ) {
    self.indexesInodes = indexesInodes
    self.fsType = fsType
    self.ops = ops
    self.id = context.superBlockID
    self.numbers = context.inodeNumbers
    self.options = context.options
    self.readOnly = context.options.flag("ro") || fsType.readOnly
    self.magic = magic
    self.blockSize = blockSize
    self.maxFileSize = maxFileSize
    self.maxBlocks = maxBlocks
    self.maxInodes = maxInodes
  }

  /// Sets the root once, during mount (d_make_root).
  public func setRoot(_ inode: Inode) {
    precondition(root_ == nil, "root set twice")
    root_ = inode
  }

  /// Blocks reserved for data now.
  public var usedBlocks: UInt64 { usageLock.withLock { usedBlocks_ } }
  /// Inodes in use now.
  public var usedInodes: UInt64 { usageLock.withLock { usedInodes_ } }
  /// Inodes given back by eviction since mount (/proc/vfs/inodes).
  public var evictedInodes: UInt64 { usageLock.withLock { evictedInodes_ } }

  /// Like new_inode(): a fresh inode counted against nr_inodes (ENOSPC past it).
  public func newInode(
    mode: UInt32, cred: Cred, rdev: DevT = .zero, ops: InodeOperations,
    fileOps: FileOperations
  ) throws(Errno) -> Inode {
    try reserveInode()
    let (ino, generation) = numbers.next()
    let inode = Inode(
      sb: self, ino: ino, generation: generation, mode: mode, cred: cred, rdev: rdev, ops: ops,
      fileOps: fileOps)
    if indexesInodes { liveLock.withLock { live[ino] = inode } }
    return inode
  }

  /// The VFS numbers of a file system that numbers its inodes itself (a
  /// disk's inode numbers): own number n is VFS number `offset + n`, for n
  /// in 1...`count`. nil: numbers come from the VFS's counter. Set once, at
  /// mount, by `useOwnInodeNumbers(count:)`.
  public private(set) var ownInodeNumbers: (offset: UInt64, count: UInt64)?

  /// For a file system whose inodes have numbers of their own, as a disk
  /// file system's i_ino comes from its inode table: reserves `count` VFS
  /// numbers for them, so an inode made again after the kernel forgot it
  /// (`newInode(number:generation:...)`) has the same number, and a file
  /// handle (node id + generation) still names it. The numbers are the own
  /// ones themselves (offset 0) when this is the first superblock of the
  /// VFS to take numbers, so st_ino and the FUSE node id agree; else they
  /// follow the numbers already handed out. Call it in `mount`, before the
  /// first inode; later calls change nothing.
  public func useOwnInodeNumbers(count: UInt64) {
    guard ownInodeNumbers == nil, count > 0 else { return }
    ownInodeNumbers = (numbers.reserveRange(count: count), count)
  }

  /// The own number behind VFS number `ino` (see `ownInodeNumbers`), nil if
  /// this superblock does not own it.
  public func ownNumber(ofIno ino: UInt64) -> UInt64? {
    guard let (offset, count) = ownInodeNumbers, ino > offset, ino - offset <= count else {
      return nil
    }
    return ino - offset
  }

  /// Like iget_locked() + the file system's own i_ino and i_generation: a new
  /// inode object for its own number `number` (1...count of
  /// `useOwnInodeNumbers`, else EINVAL), counted against nr_inodes. The file
  /// system's own inode cache must make sure that at most one object for a
  /// number lives at a time (ext2's is `Ext2FileSystemInfo.iget`). A number
  /// may be reused after its inode was freed: the kernel tells the new inode
  /// from the old by its generation, so give each a new one (i_generation).
  public func newInode(
    number: UInt64, generation: UInt64, mode: UInt32, cred: Cred, rdev: DevT = .zero,
    ops: InodeOperations, fileOps: FileOperations
  ) throws(Errno) -> Inode {
    guard let (offset, count) = ownInodeNumbers, number >= 1, number <= count else {
      throw .EINVAL
    }
    let (ino, overflow) = offset.addingReportingOverflow(number)
    guard !overflow else { throw .EINVAL }
    try reserveInode()
    return Inode(
      sb: self, ino: ino, generation: generation, mode: mode, cred: cred, rdev: rdev,
      ops: ops, fileOps: fileOps)
  }

  /// Like ilookup() in the inode hash: the inode with this number if it is
  /// not evicted (it has a link, or is open), whether or not the kernel
  /// holds it. For file handles (exportfs).
  public func liveInode(_ ino: UInt64) -> Inode? {
    liveLock.withLock { live[ino] }
  }

  /// How many inodes the index holds (for the checker).
  public var indexedInodeCount: Int { liveLock.withLock { live.count } }

  /// Drops an evicted inode from the index (the VFS calls it at eviction).
  package func removeLiveInode(_ inode: Inode) {
    guard indexesInodes else { return }
    liveLock.withLock {
      if live[inode.ino] === inode { live[inode.ino] = nil }
    }
  }

  /// Takes one slot of nr_inodes without making an inode (tmpfs charges hard
  /// links this way); ENOSPC past the limit.
  public func reserveInode() throws(Errno) {
    try usageLock.withLock { () throws(Errno) in
      if let max = maxInodes, usedInodes_ >= max { throw .ENOSPC }
      usedInodes_ += 1
    }
  }

  /// Gives back an inode's slot when it is evicted.
  public func releaseInode() {
    usageLock.withLock {
      usedInodes_ -= 1
      evictedInodes_ += 1
    }
  }

  /// Reserves `count` blocks for data, or throws ENOSPC taking none.
  public func reserveBlocks(_ count: UInt64) throws(Errno) {
    try usageLock.withLock { () throws(Errno) in
      if let max = maxBlocks, usedBlocks_ + count > max { throw .ENOSPC }
      usedBlocks_ += count
    }
  }

  /// Gives back `count` blocks reserved with `reserveBlocks`.
  public func releaseBlocks(_ count: UInt64) {
    usageLock.withLock { usedBlocks_ -= count }
  }
}

/// The superblock operations table, like `struct super_operations`.
public protocol SuperOperations: Sendable {
  /// Linux: ->statfs.
  func statfs(_ sb: SuperBlock) -> StatFS
  /// Linux: ->evict_inode. The inode has no links, no lookups and no open
  /// files: free what it holds.
  func evictInode(_ inode: Inode)
  /// For the checker: this file system's own invariants for one inode
  /// (sizes, st_blocks against stored data), one line per violation.
  func check(_ inode: Inode) -> [String]
  /// For the checker: blocks held by these inodes (nil: not counted).
  func blocksHeld(_ inodes: [Inode]) -> UInt64?
  /// For the checker: a directory's entries, read without taking the
  /// namespace lock (the checker holds it). nil: use iterate.
  func listDirectory(_ dir: Inode) -> [(FileName, Inode)]?
  /// Linux: ->sync_fs (syncfs(2), `sync -f`, sync_filesystem()): write back
  /// everything dirty; `wait`: until it is stable. The default has nothing
  /// to write (memfs, ramfs).
  func syncFS(_ sb: SuperBlock, wait: Bool) throws(Errno)
  /// Linux: ->put_super, at unmount (`VFS.unmountAll()`): write everything
  /// back and release the storage. The default does nothing.
  func putSuper(_ sb: SuperBlock)
  /// Linux: `export_operations` ->fh_to_dentry, as ext2_nfs_get_inode()
  /// does it: the inode with own number `number` (see
  /// `SuperBlock.ownInodeNumbers`), for a file handle whose inode the kernel
  /// above forgot (it sends LOOKUP "." on the node id). Load it through the
  /// file system's own inode cache, so one object stands for one inode. A
  /// number out of range, reserved, or of a deleted inode is ESTALE. The VFS
  /// asks only when no live inode has the number, with the namespace lock
  /// held for reading (as for ->lookup), and the kernel compares the
  /// generation itself. The default: ESTALE (memfs and proc keep every
  /// live inode in `SuperBlock.liveInode`, and need nothing here).
  func inodeForHandle(_ sb: SuperBlock, number: UInt64) throws(Errno) -> Inode
  /// Linux: `export_operations` ->get_parent, as ext2_get_parent() does it:
  /// the directory holding `dir`, for a directory handle the kernel
  /// reconnects to its path (LOOKUP ".." on the node id). The VFS asks when
  /// it does not know the parent itself (`Inode.parentDirectory`), with the
  /// namespace lock held for reading. The default: ESTALE.
  func parentForHandle(_ dir: Inode) throws(Errno) -> Inode
  /// Linux: ->write_inode and the page cache's invalidate_mapping_pages()
  /// before the inode shrinker frees an inode: the inode cache is about to
  /// let go of `inode`, which the kernel still holds by number but which no
  /// file has open (a regular file or symlink with links, not the root; see
  /// `SuperBlock.maxCachedInodes`). Write back what only memory holds (a
  /// mode the VFS changed, dirty pages: ext2 writes them and waits) and drop
  /// its cached pages; return false to keep it (a write failed, pages still
  /// in use). It is loaded again with `inodeForHandle`. The default keeps
  /// every inode.
  func dropInode(_ inode: Inode) -> Bool
}

extension SuperOperations {
  public func statfs(_ sb: SuperBlock) -> StatFS { Simple.statfs(sb) }
  public func evictInode(_ inode: Inode) { inode.sb.releaseInode() }
  public func check(_ inode: Inode) -> [String] { [] }
  public func blocksHeld(_ inodes: [Inode]) -> UInt64? { nil }
  public func listDirectory(_ dir: Inode) -> [(FileName, Inode)]? { nil }
  public func syncFS(_ sb: SuperBlock, wait: Bool) throws(Errno) {}
  public func putSuper(_ sb: SuperBlock) {}
  public func inodeForHandle(_ sb: SuperBlock, number: UInt64) throws(Errno) -> Inode {
    throw .ESTALE
  }
  public func parentForHandle(_ dir: Inode) throws(Errno) -> Inode { throw .ESTALE }
  public func dropInode(_ inode: Inode) -> Bool { false }
}

/// Hands out inode numbers and generations, like get_next_ino(). One per VFS,
/// so inode numbers are unique across superblocks. The root need not be
/// inode 1: the FUSE bridge maps FUSE's root id to it (FuseNodeIDs).
public final class InodeNumbers: Sendable {
  private let nextIno = Atomic<UInt64>(1)
  private let nextGeneration: Atomic<UInt64>

  /// A source that starts at inode 1, with generations from the clock.
  public init() {
    // Generations start from the clock so a remount does not repeat them.
    nextGeneration = Atomic(UInt64(max(Timestamp.now.sec, 1)))
  }

  func next() -> (ino: UInt64, generation: UInt64) {
    let ino = nextIno.add(1, ordering: .relaxed).oldValue
    let gen = nextGeneration.add(1, ordering: .relaxed).oldValue
    return (ino, gen)
  }

  /// Reserves `count` numbers in one run and returns the offset to add to
  /// 1...`count`: 0 if no number was handed out yet (the run is 1...`count`
  /// itself), else the last number handed out. Later numbers come after
  /// the run.
  func reserveRange(count: UInt64) -> UInt64 {
    var current = nextIno.load(ordering: .relaxed)
    while true {
      let (sum, overflow) = current.addingReportingOverflow(count)
      let desired = overflow ? UInt64.max : sum
      let (exchanged, original) = nextIno.compareExchange(
        expected: current, desired: desired, ordering: .relaxed)
      if exchanged { return current - 1 }
      current = original
    }
  }

  /// Hands out no number in 1...`last` from now on. A file system that shows
  /// numbers of its own as `st_ino` (a disk's inode numbers, up to its inode
  /// count) calls this when it mounts: the whole tree goes through one FUSE
  /// mount with one st_dev, so the inodes of the other superblocks (/dev,
  /// /proc) must not show the same numbers, or `cp -a`, `tar` and `du` would
  /// take them for hard links of its files. Numbers already handed out stay.
  /// (A file system whose VFS numbers are its own, like ext2, uses
  /// `SuperBlock.useOwnInodeNumbers`, which reserves them as well.)
  public func reserve(through last: UInt64) {
    guard last < UInt64.max else { return }
    var current = nextIno.load(ordering: .relaxed)
    while current <= last {
      let (exchanged, original) = nextIno.compareExchange(
        expected: current, desired: last + 1, ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }
}
