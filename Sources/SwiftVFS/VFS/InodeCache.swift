/// The inode cache: the inodes the kernel above us knows, by number (the
/// kernel's inode hash and `iget`), with their lookup and open counts.
///
/// An inode enters when an entry reply hands it to the kernel (lookup count
/// +1) or a File opens it, and leaves when both counts are zero. If it also
/// has no links left it is evicted: like iput_final() -> evict().
///
/// Locking: `lock` guards the table and every inode's `lookupCount`,
/// `openCount` and `evicted`. It may be taken with a namespace lock held, and
/// it takes inode locks inside it; never the other way round. Eviction
/// (evict_inode) runs inside it, so an inode is always either counted here,
/// named by a directory, or freed: the checker's recount never falls between.
public final class InodeCache: @unchecked Sendable {
  /// Counters behind /proc/sys/fs/inode-nr and /proc/vfs/inodes.
  public struct Stats: Sendable, Equatable {
    /// Inodes in the cache.
    public var inUse = 0
    /// Lookups the kernel holds, over all inodes.
    public var lookups: UInt64 = 0
    /// Open files, over all inodes.
    public var openFiles = 0
    /// Inodes evicted so far.
    public var evicted: UInt64 = 0
    /// Counters with these values.
    public init(inUse: Int = 0, lookups: UInt64 = 0, openFiles: Int = 0, evicted: UInt64 = 0) {
      self.inUse = inUse
      self.lookups = lookups
      self.openFiles = openFiles
      self.evicted = evicted
    }
  }

  private let lock = Lock()
  private var table: [UInt64: Inode] = [:]
  private var evictedCount: UInt64 = 0

  init() {}

  /// Like ilookup(): the inode with this number, if the kernel may name it.
  public func get(_ ino: UInt64) -> Inode? {
    lock.withLock { table[ino] }
  }

  /// Adds `count` lookups: the kernel now holds the inode (an entry reply).
  public func hold(_ inode: Inode, count: UInt64 = 1) {
    lock.withLock {
      if inode.lookupCount == 0 && inode.openCount == 0 { enterLocked(inode) }
      inode.lookupCount += count
    }
  }

  /// Whether the kernel holds a lookup of `inode` not yet forgotten.
  public func isHeld(_ inode: Inode) -> Bool {
    lock.withLock { inode.lookupCount > 0 }
  }

  /// Puts `inode` in the table. A file system with numbers of its own
  /// (`SuperBlock.useOwnInodeNumbers`, a disk's) reuses the number of an
  /// inode it freed, maybe before the kernel's FORGET for the old one came:
  /// the kernel counts lookups per node id, and its FORGET for the old inode
  /// will come with the old count, so the new inode takes that count over
  /// (the old one is evicted already: it is freed, only named by number).
  private func enterLocked(_ inode: Inode) {
    if let old = table[inode.ino], old !== inode {
      inode.lookupCount += old.lookupCount
      old.lookupCount = 0
    }
    table[inode.ino] = inode
  }

  /// Drops `count` lookups (FUSE forget). Returns the inode if it must now be
  /// evicted. More forgets than lookups are clamped, never negative.
  func forget(_ ino: UInt64, count: UInt64, evict: (Inode) -> Void) {
    lock.withLock {
      guard let inode = table[ino] else { return }
      // A superblock's root stays pinned, whatever a FORGET says.
      let floor: UInt64 = inode === inode.sb.root ? 1 : 0
      inode.lookupCount -= min(count, inode.lookupCount - min(floor, inode.lookupCount))
      if let victim = releaseIfUnusedLocked(inode) { evict(victim) }
    }
  }

  /// Counts an open File. An inode whose storage is already freed (no links,
  /// kept only by the kernel's lookups) cannot be opened again: ENOENT.
  func openFile(_ inode: Inode) throws(Errno) {
    try lock.withLock { () throws(Errno) in
      guard !inode.evicted else { throw .ENOENT }
      if inode.lookupCount == 0 && inode.openCount == 0 { enterLocked(inode) }
      inode.openCount += 1
    }
  }

  func closeFile(_ inode: Inode, evict: (Inode) -> Void) {
    lock.withLock {
      inode.openCount -= 1
      if let victim = releaseIfUnusedLocked(inode) { evict(victim) }
    }
  }

  /// For unlink/rmdir/rename: returns the inode if it lost its last link and
  /// no File has it open, so its storage must be freed now (as tmpfs frees it
  /// at once). The kernel may still hold lookups on it: the inode object stays
  /// in the table, answering getattr, until the last forget.
  func evictIfUnused(_ inode: Inode, evict: (Inode) -> Void) {
    lock.withLock {
      if let victim = releaseIfUnusedLocked(inode) { evict(victim) }
    }
  }

  /// Runs `body` with the table held still (no inode enters, leaves or is
  /// evicted meanwhile): for the consistency checker's recount.
  func withTable<T>(_ body: ([Inode]) -> T) -> T {
    lock.withLock { body(Array(table.values)) }
  }

  /// Drops the inode from the table once nothing names it by number, and
  /// returns it for eviction once it has no links and no open files — once.
  private func releaseIfUnusedLocked(_ inode: Inode) -> Inode? {
    if inode.lookupCount == 0, inode.openCount == 0, table[inode.ino] === inode {
      table[inode.ino] = nil
    }
    guard inode.openCount == 0, !inode.evicted else { return nil }
    guard inode.lock.withLock({ inode.nlink == 0 }) else { return nil }
    inode.evicted = true
    evictedCount += 1
    return inode
  }

  /// A snapshot of the counters.
  public var stats: Stats {
    lock.withLock {
      var s = Stats(inUse: table.count, lookups: 0, openFiles: 0, evicted: evictedCount)
      for inode in table.values {
        s.lookups += inode.lookupCount
        s.openFiles += inode.openCount
      }
      return s
    }
  }

  /// The same counts per superblock (by `SuperBlock.id`), for /proc/vfs/inodes.
  /// `evicted` is left 0: each superblock counts its own.
  public var statsBySuperBlock: [Int: Stats] {
    lock.withLock {
      var out: [Int: Stats] = [:]
      for inode in table.values {
        out[inode.sb.id, default: Stats()].inUse += 1
        out[inode.sb.id, default: Stats()].lookups += inode.lookupCount
        out[inode.sb.id, default: Stats()].openFiles += inode.openCount
      }
      return out
    }
  }

  /// Every cached inode.
  public var all: [Inode] { lock.withLock { Array(table.values) } }

  func isEvicted(_ inode: Inode) -> Bool { lock.withLock { inode.evicted } }
}

/// Open files by handle, the analog of a process's fd table. FUSE's `fh`.
final class FileTable: @unchecked Sendable {
  private let lock = Lock()
  private var files: [UInt64: File] = [:]
  private var nextHandle: UInt64 = 1

  func install(_ file: File) -> UInt64 {
    lock.withLock {
      let fh = nextHandle
      nextHandle += 1
      files[fh] = file
      return fh
    }
  }

  func get(_ fh: UInt64) -> File? { lock.withLock { files[fh] } }

  func remove(_ fh: UInt64) -> File? { lock.withLock { files.removeValue(forKey: fh) } }

  var count: Int { lock.withLock { files.count } }
}
