/// The dentry cache: a hash of (parent inode, name) -> `Dentry`, with an LRU of
/// unused entries, negative entries, a size bound and counters.
///
/// Central invariant (as fs/dcache.c states its own): whenever a positive
/// dentry exists, the directory really holds that name for that inode, and a
/// negative dentry exists only for a name the directory does not hold. The VFS
/// keeps this true by changing the dcache under the superblock's namespace
/// lock, in the same critical section as the directory change
/// (`instantiate`, `delete`, `move`).
///
/// "Unused" here: between requests nothing holds a dentry (the kernel above us
/// keeps its own dentries), so every dentry but the pinned superblock roots
/// sits on the LRU, as a kernel dentry with d_count 0 does. When the cache is
/// over `capacity`, the least recently used entries are evicted (like
/// prune_dcache_sb), which never loses data: memfs directories hold the truth.
///
/// Locking: one lock, `lock`, guards everything here; it is innermost: no
/// other lock is taken while it is held.
public final class Dcache: @unchecked Sendable {
  /// Counters behind /proc/sys/fs/dentry-state and /proc/vfs/dcache.
  public struct Stats: Sendable, Equatable {
    /// Dentries in the cache (nr_dentry).
    public var entries = 0
    /// Dentries nobody holds, on the LRU (nr_unused).
    public var unused = 0
    /// Negative dentries: names known not to exist (nr_negative).
    public var negative = 0
    /// The most dentries kept before the LRU evicts.
    public var capacity = 0
    /// Lookups counted (since the counters were last reset).
    public var lookups: UInt64 = 0
    /// Lookups answered with an inode (positive dentries).
    public var hits: UInt64 = 0
    /// Lookups that went to the file system.
    public var misses: UInt64 = 0
    /// Lookups answered "does not exist" from a negative dentry.
    public var negativeHits: UInt64 = 0
    /// Dentries dropped from the LRU to stay under capacity.
    public var evictions: UInt64 = 0
    /// Hash buckets (the table's size).
    public var buckets = 0
    /// The longest hash chain.
    public var longestChain = 0
  }

  private let lock = Lock()
  private var buckets: [Dentry?]
  private var count = 0
  private var negativeCount = 0
  private var lruHead: Dentry?  // most recently used
  private var lruTail: Dentry?  // least recently used
  private var lruCount = 0
  private var lookups: UInt64 = 0
  private var hits: UInt64 = 0
  private var misses: UInt64 = 0
  private var negativeHits: UInt64 = 0
  private var evictions: UInt64 = 0
  private var capacity_: Int

  /// The capacity of a new dcache: 1,048,576 dentries.
  public static let defaultCapacity = 1 << 20

  /// An empty dcache that keeps at most `capacity` dentries.
  public init(capacity: Int = Dcache.defaultCapacity) {
    capacity_ = max(capacity, 1)
    buckets = Array(repeating: nil, count: 1024)
  }

  /// Unlinks every dentry before any is freed: left linked, a hash chain or
  /// the LRU list (a million entries long) would be freed one dentry inside
  /// another until the stack ran out. Their inodes may hold whole directory
  /// trees, so they go through `DeferredRelease` too.
  deinit {
    var all: [AnyObject] = []
    all.reserveCapacity(count)
    for i in buckets.indices {
      var d = buckets[i]
      buckets[i] = nil
      while let cur = d {
        d = cur.hashNext
        cur.hashNext = nil
        cur.lruNext = nil
        all.append(cur)
      }
    }
    lruHead = nil
    lruTail = nil
    DeferredRelease.release(&all)
  }

  /// The most dentries kept; setting it lower evicts unused ones at once.
  public var capacity: Int {
    get { lock.withLock { capacity_ } }
    set {
      lock.withLock {
        capacity_ = max(newValue, 1)
        shrinkLocked(to: capacity_)
      }
    }
  }

  /// What a dcache lookup found (d_lookup).
  public enum LookupResult {
    /// Not cached: ask the file system.
    case miss
    /// Cached as absent: ENOENT without asking.
    case negative
    /// Cached with its inode.
    case positive(Inode)
  }

  /// Like d_lookup(): finds the dentry for `name` under `parentIno`, counts a
  /// hit, negative hit or miss, and marks the entry recently used.
  public func lookup(parentIno: UInt64, name: FileName) -> LookupResult {
    let hash = Dcache.hash(parentIno, name)
    return lock.withLock {
      lookups &+= 1
      guard let dentry = findLocked(parentIno, name, hash) else {
        misses &+= 1
        return .miss
      }
      touchLocked(dentry)
      if let inode = dentry.inode {
        hits &+= 1
        return .positive(inode)
      }
      negativeHits &+= 1
      return .negative
    }
  }

  /// Like d_add() / d_instantiate(): records what `name` under `parentIno`
  /// names now (an inode, or nil for a negative entry), replacing any entry.
  public func add(parentIno: UInt64, name: FileName, inode: Inode?, pinned: Bool = false) {
    let hash = Dcache.hash(parentIno, name)
    lock.withLock {
      if let dentry = findLocked(parentIno, name, hash) {
        if dentry.inode == nil { negativeCount -= 1 }
        if inode == nil { negativeCount += 1 }
        dentry.inode = inode
        if pinned {
          dentry.pinned = true
          lruRemoveLocked(dentry)
        } else {
          touchLocked(dentry)
        }
        return
      }
      let dentry = Dentry(
        parentIno: parentIno, name: name, hash: hash, inode: inode, pinned: pinned)
      insertLocked(dentry)
      if !pinned {
        lruPushLocked(dentry)
        shrinkLocked(to: capacity_)
      }
    }
  }

  /// Like d_prune_aliases() for inodes the inode cache let go: drops the
  /// unused dentries that name one of `inodes`, so that no dentry keeps an
  /// inode in memory that the cache no longer counts (a lookup finds it
  /// again). The dentries, and maybe their inodes, are freed after the
  /// lock is given back. Returns how many were dropped.
  @discardableResult
  public func pruneAliases(of inodes: [Inode]) -> Int {
    guard !inodes.isEmpty else { return 0 }
    let targets = Set(inodes.map(ObjectIdentifier.init))
    let removed = lock.withLock { () -> [Dentry] in
      var removed: [Dentry] = []
      var next = lruHead
      while let dentry = next {
        next = dentry.lruNext
        if let inode = dentry.inode, targets.contains(ObjectIdentifier(inode)) {
          removeLocked(dentry)
          removed.append(dentry)
        }
      }
      return removed
    }
    return removed.count
  }

  /// Like d_delete(): the name no longer exists; keep a negative entry.
  public func delete(parentIno: UInt64, name: FileName) {
    add(parentIno: parentIno, name: name, inode: nil)
  }

  /// Like d_drop(): forget the entry altogether.
  public func drop(parentIno: UInt64, name: FileName) {
    let hash = Dcache.hash(parentIno, name)
    lock.withLock {
      if let dentry = findLocked(parentIno, name, hash) {
        removeLocked(dentry)
      }
    }
  }

  /// Evicts unused dentries until at most `target` remain unused-or-pinned,
  /// like shrink_dcache_sb / drop_caches. Returns how many were evicted.
  @discardableResult
  public func shrink(to target: Int = 0) -> Int {
    lock.withLock { shrinkLocked(to: target) }
  }

  /// A snapshot of the counters.
  public var stats: Stats {
    lock.withLock {
      var longest = 0
      for head in buckets {
        var n = 0
        var d = head
        while let cur = d {
          n += 1
          d = cur.hashNext
        }
        longest = max(longest, n)
      }
      return Stats(
        entries: count, unused: lruCount, negative: negativeCount, capacity: capacity_,
        lookups: lookups, hits: hits, misses: misses, negativeHits: negativeHits,
        evictions: evictions, buckets: buckets.count, longestChain: longest)
    }
  }

  /// Zeroes the event counters (not the sizes), for /proc/vfs/reset.
  public func resetCounters() {
    lock.withLock {
      lookups = 0
      hits = 0
      misses = 0
      negativeHits = 0
      evictions = 0
    }
  }

  /// What an entry names now, without counting a lookup: nil if there is no
  /// entry, 0 for a negative one. For the consistency checker.
  func lookupQuietly(parentIno: UInt64, name: FileName) -> UInt64? {
    let hash = Dcache.hash(parentIno, name)
    return lock.withLock {
      guard let dentry = findLocked(parentIno, name, hash) else { return nil }
      return dentry.inode?.ino ?? 0
    }
  }

  /// Every entry, for the consistency checker.
  public func allEntries() -> [(parentIno: UInt64, name: FileName, inode: Inode?)] {
    lock.withLock {
      var out: [(UInt64, FileName, Inode?)] = []
      out.reserveCapacity(count)
      for head in buckets {
        var d = head
        while let cur = d {
          out.append((cur.parentIno, cur.name, cur.inode))
          d = cur.hashNext
        }
      }
      return out
    }
  }

  // MARK: - Internals (caller holds `lock`)

  static func hash(_ parentIno: UInt64, _ name: FileName) -> Int {
    var hasher = Hasher()
    hasher.combine(parentIno)
    hasher.combine(name)
    return hasher.finalize()
  }

  private func bucketIndex(_ hash: Int) -> Int { hash & (buckets.count - 1) }

  private func findLocked(_ parentIno: UInt64, _ name: FileName, _ hash: Int) -> Dentry? {
    var d = buckets[bucketIndex(hash)]
    while let cur = d {
      if cur.hashValue_ == hash && cur.parentIno == parentIno && cur.name == name {
        return cur
      }
      d = cur.hashNext
    }
    return nil
  }

  private func insertLocked(_ dentry: Dentry) {
    if count >= buckets.count { growLocked() }
    let i = bucketIndex(dentry.hashValue_)
    dentry.hashNext = buckets[i]
    buckets[i] = dentry
    count += 1
    if dentry.inode == nil { negativeCount += 1 }
  }

  /// Doubles the table so chains stay short (the kernel sizes its table at
  /// boot; a user-space cache can afford to grow).
  private func growLocked() {
    var newBuckets = [Dentry?](repeating: nil, count: buckets.count * 2)
    let mask = newBuckets.count - 1
    for head in buckets {
      var d = head
      while let cur = d {
        d = cur.hashNext
        let i = cur.hashValue_ & mask
        cur.hashNext = newBuckets[i]
        newBuckets[i] = cur
      }
    }
    buckets = newBuckets
  }

  private func removeLocked(_ dentry: Dentry) {
    let i = bucketIndex(dentry.hashValue_)
    if buckets[i] === dentry {
      buckets[i] = dentry.hashNext
    } else {
      var d = buckets[i]
      while let cur = d, cur.hashNext !== dentry { d = cur.hashNext }
      d?.hashNext = dentry.hashNext
    }
    dentry.hashNext = nil
    lruRemoveLocked(dentry)
    count -= 1
    if dentry.inode == nil { negativeCount -= 1 }
  }

  @discardableResult
  private func shrinkLocked(to target: Int) -> Int {
    var evicted = 0
    while count > target, let victim = lruTail {
      removeLocked(victim)
      evicted += 1
    }
    evictions &+= UInt64(evicted)
    return evicted
  }

  private func touchLocked(_ dentry: Dentry) {
    guard dentry.onLRU, lruHead !== dentry else { return }
    lruRemoveLocked(dentry)
    lruPushLocked(dentry)
  }

  private func lruPushLocked(_ dentry: Dentry) {
    dentry.lruNext = lruHead
    dentry.lruPrev = nil
    lruHead?.lruPrev = dentry
    lruHead = dentry
    if lruTail == nil { lruTail = dentry }
    dentry.onLRU = true
    lruCount += 1
  }

  private func lruRemoveLocked(_ dentry: Dentry) {
    guard dentry.onLRU else { return }
    if let prev = dentry.lruPrev { prev.lruNext = dentry.lruNext } else { lruHead = dentry.lruNext }
    if let next = dentry.lruNext { next.lruPrev = dentry.lruPrev } else { lruTail = dentry.lruPrev }
    dentry.lruNext = nil
    dentry.lruPrev = nil
    dentry.onLRU = false
    lruCount -= 1
  }
}
