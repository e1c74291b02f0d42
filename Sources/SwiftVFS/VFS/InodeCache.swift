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
    /// Inodes the kernel holds that were let go to bound memory (see
    /// `SuperBlock.maxCachedInodes`); their lookups are in `lookups`.
    public var dropped = 0
    /// Counters with these values.
    public init(
      inUse: Int = 0, lookups: UInt64 = 0, openFiles: Int = 0, evicted: UInt64 = 0,
      dropped: Int = 0
    ) {
      self.inUse = inUse
      self.lookups = lookups
      self.openFiles = openFiles
      self.evicted = evicted
      self.dropped = dropped
    }
  }

  /// An inode the kernel holds whose object the cache let go (past its
  /// superblock's `maxCachedInodes`): its lookups, kept until the kernel
  /// names it again (then it is loaded from the file system) or forgets it.
  private struct DroppedInode {
    let sb: SuperBlock
    let generation: UInt64
    var lookups: UInt64
  }

  private let lock = Lock()
  private var table: [UInt64: Inode] = [:]
  private var dropped: [UInt64: DroppedInode] = [:]
  /// Called with the inodes just let go, outside the lock (the VFS drops
  /// their dentries there: `Dcache.pruneAliases(of:)`). Set once, before use.
  package var onDrop: (([Inode]) -> Void)?
  /// Inodes in `table` per superblock (by `SuperBlock.id`), against `maxCachedInodes`.
  private var counts: [Int: Int] = [:]
  /// Per superblock, the count past which the next shrink runs: the bound
  /// (no entry), or, after a pass that could not get under it (open inodes,
  /// or ones their file system keeps, stay), a tenth of the bound above where it ended, so that
  /// a cache of busy inodes is not scanned again at every lookup.
  private var shrinkAt: [Int: Int] = [:]
  /// The table's inodes in the order they entered it, oldest first, by
  /// number and identity (no reference: an entry whose inode left the
  /// table is skipped, and dropped at the next shrink or when the list
  /// grows twice as long as the table). The shrinker takes the oldest, as
  /// the kernel's inode LRU does: those whose pages were written back long
  /// ago, not the files being written now.
  private var entryOrder: [(ino: UInt64, id: ObjectIdentifier)] = []
  private var evictedCount: UInt64 = 0

  init() {}

  /// Like ilookup(): the inode with this number, if the kernel may name it.
  public func get(_ ino: UInt64) -> Inode? {
    lock.withLock { table[ino] }
  }

  /// The inode the kernel names by `ino`: a cached one, else one the cache
  /// let go, loaded again from its file system (`SuperOperations.inodeForHandle`);
  /// nil if neither. Call it without a namespace lock held.
  public func inode(_ ino: UInt64) -> Inode? {
    let (cached, record) = lock.withLock { () -> (Inode?, DroppedInode?) in
      if let cached = table[ino] { return (cached, nil) }
      return (nil, dropped[ino])
    }
    if let cached { return cached }
    guard let record else { return nil }
    // Loaded as a lookup loads an inode: under the namespace lock, which is
    // taken before this cache's lock, never inside it.
    let loaded = try? record.sb.namespaceLock.withReadLock { () throws(Errno) -> Inode? in
      try record.sb.loadInode(numbered: ino)
    }
    guard let loaded = loaded ?? nil else { return nil }
    let (found, victims) = lock.withLock { () -> (Inode?, [Inode]) in
      if let raced = table[ino] { return (raced, []) }
      reviveLocked(loaded)
      // Loaded again, it counts against the bound as a new one does.
      return (table[ino], shrinkCandidatesLocked(loaded.sb, sparing: loaded))
    }
    if !victims.isEmpty { drop(victims) }
    return found
  }

  /// Adds `count` lookups: the kernel now holds the inode (an entry reply).
  /// Past its superblock's `maxCachedInodes`, idle inodes are let go.
  public func hold(_ inode: Inode, count: UInt64 = 1) {
    let victims = lock.withLock { () -> [Inode] in
      if inode.lookupCount == 0 && inode.openCount == 0 { enterLocked(inode) }
      inode.lookupCount += count
      return shrinkCandidatesLocked(inode.sb, sparing: inode)
    }
    if !victims.isEmpty { drop(victims) }
  }

  /// Whether the kernel holds a lookup of `inode` not yet forgotten.
  public func isHeld(_ inode: Inode) -> Bool {
    lock.withLock {
      if inode.lookupCount > 0 { return true }
      guard table[inode.ino] == nil, let record = dropped[inode.ino] else { return false }
      return record.sb === inode.sb && record.generation == inode.generation
    }
  }

  /// Whether the kernel holds a lookup of the inode numbered `ino`.
  public func isHeld(number ino: UInt64) -> Bool {
    lock.withLock { (table[ino]?.lookupCount ?? 0) > 0 || dropped[ino] != nil }
  }

  // MARK: - Letting idle inodes go (prune_icache_sb())

  /// Idle inodes of `sb` to let go when it caches more than its bound: a
  /// tenth of the bound beyond it at a time, so the scan is paid rarely.
  /// Idle: a regular file or symlink with links and lookups, no open file,
  /// not `sparing` (the inode being handed to the kernel now).
  private func shrinkCandidatesLocked(_ sb: SuperBlock, sparing: Inode) -> [Inode] {
    guard let bound = sb.maxCachedInodes, let count = counts[sb.id] else { return [] }
    guard count > bound else {
      shrinkAt[sb.id] = nil
      return []
    }
    let step = InodeCache.shrinkStep(bound)
    guard count > shrinkAt[sb.id] ?? bound else { return [] }
    // Until this pass ends (and says where the next one starts), no other begins.
    shrinkAt[sb.id] = Int.max
    let wanted = count - bound + step
    var victims: [Inode] = []
    var live: [(ino: UInt64, id: ObjectIdentifier)] = []
    live.reserveCapacity(table.count)
    for entry in entryOrder {
      guard let inode = table[entry.ino], ObjectIdentifier(inode) == entry.id else { continue }
      if victims.count < wanted, inode.sb === sb, inode !== sparing,
        inode.type == .regular || inode.type == .symlink, inode !== sb.root,
        inode.openCount == 0, inode.lookupCount > 0, !inode.evicted,
        inode.lock.withLock({ inode.nlink > 0 })
      {
        victims.append(inode)
      } else {
        live.append(entry)
      }
    }
    // A victim the file system keeps comes back at the young end.
    entryOrder = live
    if victims.isEmpty { shrinkAt[sb.id] = count + step }
    return victims
  }

  /// Lets `victims` go: each still idle leaves the table, its lookups kept
  /// in `dropped`; then its file system writes it back
  /// (`SuperOperations.dropInode`, outside this cache's lock), and one it
  /// keeps comes back. A request for one meanwhile loads it again (the
  /// same object: the file system's own cache finds it while it lives).
  private func drop(_ victims: [Inode]) {
    let gone = lock.withLock { () -> [Inode] in
      var gone: [Inode] = []
      for inode in victims
      where table[inode.ino] === inode && inode.openCount == 0 && inode.lookupCount > 0
        && !inode.evicted
      {
        dropped[inode.ino] = DroppedInode(
          sb: inode.sb, generation: inode.generation, lookups: inode.lookupCount)
        inode.lookupCount = 0
        removeLocked(inode)
        gone.append(inode)
      }
      return gone
    }
    var kept: [Inode] = []
    for inode in gone {
      if inode.sb.ops.dropInode(inode) {
        kept.append(inode)
      } else {
        lock.withLock { reviveLocked(inode) }
      }
    }
    onDrop?(kept)
    // The next pass: past the bound again if this one got under it, else
    // once the cache grows a tenth of the bound past where this one ended.
    if let sb = victims.first?.sb, let bound = sb.maxCachedInodes {
      lock.withLock {
        let now = counts[sb.id] ?? 0
        shrinkAt[sb.id] = now <= bound ? nil : now + InodeCache.shrinkStep(bound)
      }
    }
  }

  /// Puts a let-go `inode` back in the table with its lookups, if the
  /// record is for this very inode (same superblock and generation).
  private func reviveLocked(_ inode: Inode) {
    guard table[inode.ino] == nil, let record = dropped[inode.ino], record.sb === inode.sb,
      record.generation == inode.generation
    else { return }
    adoptLocked(dropped.removeValue(forKey: inode.ino), into: inode)
    insertLocked(inode)
  }

  /// `inode` takes over the lookups of a let-go record for its number; the
  /// kernel may have cached its pages meanwhile: say so.
  private func adoptLocked(_ record: DroppedInode?, into inode: Inode) {
    guard let record else { return }
    inode.lookupCount += record.lookups
    inode.kernelMayCachePages.store(true, ordering: .releasing)
  }

  /// How far past the bound the next pass waits after one that could not
  /// get under it, and how many more than the excess a pass lets go.
  private static func shrinkStep(_ bound: Int) -> Int { max(bound / 10, 1) }

  private func insertLocked(_ inode: Inode) {
    let old = table.updateValue(inode, forKey: inode.ino)
    if old === inode { return }
    if old == nil { counts[inode.sb.id, default: 0] += 1 }
    entryOrder.append((inode.ino, ObjectIdentifier(inode)))
    if entryOrder.count > 2 * table.count + 1024 {
      entryOrder.removeAll { entry in
        table[entry.ino].map { ObjectIdentifier($0) != entry.id } ?? true
      }
    }
  }

  private func removeLocked(_ inode: Inode) {
    guard table[inode.ino] === inode else { return }
    table[inode.ino] = nil
    counts[inode.sb.id, default: 1] -= 1
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
      removeLocked(old)
    } else {
      // Let go earlier (the same inode loaded again, or a new one on its
      // number): the kernel's lookups go on with this object.
      adoptLocked(dropped.removeValue(forKey: inode.ino), into: inode)
    }
    insertLocked(inode)
  }

  /// Drops `count` lookups (FUSE forget). Returns the inode if it must now be
  /// evicted. More forgets than lookups are clamped, never negative.
  func forget(_ ino: UInt64, count: UInt64, evict: (Inode) -> Void) {
    lock.withLock {
      guard let inode = table[ino] else {
        // Let go: only its count is here.
        if var record = dropped[ino] {
          record.lookups -= min(count, record.lookups)
          dropped[ino] = record.lookups == 0 ? nil : record
        }
        return
      }
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
      // Let go and loaded again by the lookup that unlinked it: the
      // kernel's lookups count before eviction is decided.
      reviveLocked(inode)
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
    if inode.lookupCount == 0, inode.openCount == 0 { removeLocked(inode) }
    guard inode.openCount == 0, !inode.evicted else { return nil }
    guard inode.lock.withLock({ inode.nlink == 0 }) else { return nil }
    inode.evicted = true
    evictedCount += 1
    return inode
  }

  /// A snapshot of the counters.
  public var stats: Stats {
    lock.withLock {
      var s = Stats(
        inUse: table.count, lookups: 0, openFiles: 0, evicted: evictedCount,
        dropped: dropped.count)
      for inode in table.values {
        s.lookups += inode.lookupCount
        s.openFiles += inode.openCount
      }
      for record in dropped.values { s.lookups += record.lookups }
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
      for record in dropped.values {
        out[record.sb.id, default: Stats()].dropped += 1
        out[record.sb.id, default: Stats()].lookups += record.lookups
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
