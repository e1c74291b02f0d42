// The page cache: file pages (`AddressSpace`, like struct address_space) and
// block buffers (`BufferCache`, like the buffer_heads of the block device's
// mapping) in one pool with one bound, one LRU and one set of counters, like
// mm/filemap.c + fs/buffer.c over the kernel's LRU lists (mm/vmscan.c).
//
// Invariants:
// - an entry is in its owner's map exactly when it is in the LRU (`attached`);
// - `stats.cachedBytes + stats.bufferBytes` is the sum of the sizes of the
//   attached entries, `dirtyBytes` of the attached dirty ones, `writebackBytes`
//   of those under writeback;
// - dirty data is never dropped to make room: eviction takes clean, idle,
//   unpinned entries from the cold end; the writer that pushes the cache over
//   its bound writes dirty entries back first (like balance_dirty_pages()), and
//   only truncation or `BufferCache.forget` discard dirty bytes, on purpose.
//
// Locking: `lock` (a ConditionLock) guards the LRU, the owners' maps, every entry's
// state bits and the counters. It is never held across device I/O or a file
// system's callback: an entry being read is marked `locked` (PG_locked) and
// one under writeback `underWriteback` (PG_writeback); whoever needs it waits on
// the lock's condition. An entry's bytes have their own lock (see CacheEntry),
// taken only without `lock` held.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The state bits of a cached page or buffer (PG_uptodate, PG_dirty, PG_writeback, PG_locked).
public struct PageState: OptionSet, Sendable, Hashable {
  /// The raw bits.
  public let rawValue: UInt8
  /// A state from raw bits.
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  /// The bytes are valid (PG_uptodate).
  public static let uptodate = PageState(rawValue: 1)
  /// The bytes differ from the disk and wait for writeback (PG_dirty).
  public static let dirty = PageState(rawValue: 2)
  /// A write of the bytes is in flight (PG_writeback).
  public static let writeback = PageState(rawValue: 4)
  /// A read from disk is filling the page (PG_locked).
  public static let locked = PageState(rawValue: 8)
}

/// The page cache (mm/filemap.c + fs/buffer.c): file pages and block buffers
/// under one memory bound, with an LRU, dirty tracking and writeback.
///
/// A file system makes an ``AddressSpace`` per inode for file data and a
/// ``BufferCache`` per device for metadata blocks; both keep their pages here.
/// Clean entries are dropped from the cold end of the LRU to stay under
/// ``capacityBytes``; dirty ones are written back first, by the thread whose
/// request pushed the cache over the bound (the kernel throttles writers the
/// same way in balance_dirty_pages()). Dirty data also goes to disk on
/// ``AddressSpace/sync()`` (fsync), ``syncAll()`` (syncfs, unmount), and from
/// the flusher thread (see ``startFlusher()``).
///
/// The bound can be exceeded briefly by entries that cannot be dropped at the
/// moment: pinned by a ``BufferHead``, being read, or dirty on a device that
/// fails its writes.
///
/// Entries keep their owner alive, and owners keep the cache alive: call
/// ``shutdown()`` at unmount to write everything back and let it all go.
public final class PageCache: @unchecked Sendable {
  /// The size of a file page (PAGE_SIZE).
  public static let pageSize = 4096
  /// The default bound, 64 MiB: room for the metadata and the working set of
  /// a build or a `git clone`, small beside the daemon's RSS budget
  /// (cache_size + 64 MiB in issue 12).
  public static let defaultCapacityBytes = 64 << 20
  /// The flusher's default period, 5 s (dirty_writeback_centisecs = 500).
  public static let defaultDirtyWritebackInterval = 5.0
  /// The default age after which dirty data is written back, 30 s (dirty_expire_centisecs = 3000).
  public static let defaultDirtyExpireInterval = 30.0

  /// The clock that stamps dirtied entries, in seconds (monotonic by default;
  /// tests inject their own and call ``runFlusherOnce(now:)``).
  public let clock: @Sendable () -> Double
  /// How often the flusher thread wakes, in seconds (dirty_writeback_centisecs / 100); 0 never.
  public let dirtyWritebackInterval: Double
  /// How long data may stay dirty before the flusher writes it, in seconds (dirty_expire_centisecs / 100).
  public let dirtyExpireInterval: Double

  /// The cache's one lock, and the wait queue of entries under I/O (like the
  /// kernel's folio wait table: one queue for all, woken with a broadcast,
  /// each sleeper rechecks its entry).
  let lock = ConditionLock()
  // Guarded by `lock`:
  // The LRU's ends; like the links, not counted (the owners' maps hold the entries).
  unowned(unsafe) var lruHot: CacheEntry?  // most recently used
  unowned(unsafe) var lruCold: CacheEntry?  // next to be dropped
  var counters = PageCacheStats()
  var traceHookStorage: (@Sendable (PageCacheTraceEvent) -> Void)?
  var syncAllError: Errno?  // like the superblock's s_wb_err, seen by the next syncAll()
  var flusher: Flusher?

  /// A cache bounded by `capacityBytes` (negative counts as 0), whose
  /// flusher, once started, wakes every `dirtyWritebackInterval` seconds
  /// and writes what has been dirty `dirtyExpireInterval` seconds, as
  /// measured by `clock` (CLOCK_MONOTONIC when nil).
  public init(
    capacityBytes: Int = PageCache.defaultCapacityBytes,
    dirtyWritebackInterval: Double = PageCache.defaultDirtyWritebackInterval,
    dirtyExpireInterval: Double = PageCache.defaultDirtyExpireInterval,
    clock: (@Sendable () -> Double)? = nil
  ) {
    counters.capacityBytes = UInt64(max(capacityBytes, 0))
    self.dirtyWritebackInterval = max(dirtyWritebackInterval, 0)
    self.dirtyExpireInterval = max(dirtyExpireInterval, 0)
    self.clock = clock ?? PageCache.monotonicSeconds
  }

  deinit {
    flusher?.stop()
  }

  /// The memory bound for pages and buffers together, in bytes (`-o cache_size=`).
  /// Lowering it drops clean entries and writes dirty ones back at once.
  public var capacityBytes: Int {
    get { lock.withLock { Int(counters.capacityBytes) } }
    set {
      lock.withLock { counters.capacityBytes = UInt64(max(newValue, 0)) }
      balance()
    }
  }

  /// A copy of the counters (/proc/meminfo's Cached, Buffers, Dirty, Writeback; /proc/vmstat).
  public var stats: PageCacheStats { lock.withLock { counters } }

  /// Called for every bio the cache submits and every miss (nil: no tracing).
  /// It runs on the thread doing the I/O, without the cache's lock: keep it short.
  public var traceHook: (@Sendable (PageCacheTraceEvent) -> Void)? {
    get { lock.withLock { traceHookStorage } }
    set { lock.withLock { traceHookStorage = newValue } }
  }

  /// Drops every clean, idle page and buffer (`echo 1 > /proc/sys/vm/drop_caches`,
  /// drop_pagecache_sb()); dirty ones and those in use stay. Returns the bytes freed.
  @discardableResult
  public func dropCleanPages() -> Int {
    lock.withLock {
      var freed = 0
      var entry = lruCold
      while let current = entry {
        entry = current.lruPrev
        if current.isReclaimable {
          freed += current.size
          detachLocked(current)
          counters.evictions += 1
        }
      }
      return freed
    }
  }

  /// Submits `bio` to `device` and reports it to the trace hook first (submit_bio()).
  /// A file system's ``AddressSpaceOperations`` use this (or ``readBlocks(_:blockSize:from:into:)``)
  /// so that its bios show in the trace.
  @discardableResult
  public func submitBio(_ bio: Bio, to device: BlockDevice) throws(Errno) -> Int {
    if let hook = lock.withLock({ traceHookStorage }) {
      hook(
        .bio(
          operation: bio.operation, device: device.name, sector: bio.sector,
          bytes: bio.byteCount))
    }
    return try device.submitBio(bio)
  }

  /// Fills `page` from the device blocks `blocks` of `blockSize` bytes, in
  /// order: part i of the page comes from block `blocks[i]`, or is zeros where
  /// it is nil (a hole); what lies past the last part is zeroed. Runs of
  /// consecutive blocks go as one bio, like do_mpage_readpage().
  ///
  /// EINVAL when `blockSize` is not a power of two from 512 to the page size,
  /// or not a multiple of the device's logical block, or the parts do not fit
  /// in `page`; EIO when a block lies past the device's end (a corrupted
  /// block number never reaches past it).
  public func readBlocks(
    _ blocks: [UInt64?], blockSize: Int, from device: BlockDevice,
    into page: UnsafeMutableRawBufferPointer
  ) throws(Errno) {
    try checkBlocks(blocks, blockSize: blockSize, device: device, pageBytes: page.count)
    guard let base = page.baseAddress else { return }
    let used = blocks.count * blockSize
    memset(base + used, 0, page.count - used)
    try forEachRun(blocks) { (first, start, count) throws(Errno) in
      let region = UnsafeMutableRawBufferPointer(
        start: base + start * blockSize, count: count * blockSize)
      if let first {
        try submitBio(
          .read(sector: first * UInt64(blockSize / BlockDevice.sectorSize), into: region),
          to: device)
      } else {
        memset(region.baseAddress!, 0, region.count)  // a non-empty part of `page`
      }
    }
  }

  /// Writes the parts of `page` that have a block in `blocks` to those device
  /// blocks (nil: that part is not written), runs of consecutive blocks as one
  /// bio, like __mpage_writepage(). Errors as ``readBlocks(_:blockSize:from:into:)``.
  public func writeBlocks(
    _ blocks: [UInt64?], blockSize: Int, to device: BlockDevice, from page: UnsafeRawBufferPointer
  ) throws(Errno) {
    try checkBlocks(blocks, blockSize: blockSize, device: device, pageBytes: page.count)
    guard let base = page.baseAddress else { return }
    try forEachRun(blocks) { (first, start, count) throws(Errno) in
      guard let first else { return }
      let region = UnsafeRawBufferPointer(start: base + start * blockSize, count: count * blockSize)
      try submitBio(
        .write(sector: first * UInt64(blockSize / BlockDevice.sectorSize), from: region), to: device
      )
    }
  }

  /// Fills `pages` (each ``pageSize`` bytes, apart in memory) from the
  /// device blocks `blocks`, as ``readBlocks(_:blockSize:from:into:)`` fills
  /// a buffer made of the pages back to back; a run of consecutive
  /// blocks goes as one bio whatever pages it spans, with a segment per
  /// piece of a page (mpage_readahead()'s bio of several pages). EINVAL as
  /// for one buffer, and when a page is not ``pageSize`` bytes.
  public func readBlocks(
    _ blocks: [UInt64?], blockSize: Int, from device: BlockDevice,
    intoPages pages: [UnsafeMutableRawBufferPointer]
  ) throws(Errno) {
    let pageSize = PageCache.pageSize
    guard pages.allSatisfy({ $0.count == pageSize && $0.baseAddress != nil }) else {
      throw .EINVAL
    }
    try checkBlocks(blocks, blockSize: blockSize, device: device, pageBytes: pages.count * pageSize)
    let used = blocks.count * blockSize
    for piece in pieces(of: pages, from: used, count: pages.count * pageSize - used) {
      memset(piece.baseAddress!, 0, piece.count)  // pieces are never empty
    }
    try forEachRun(blocks) { (first, start, count) throws(Errno) in
      let parts = pieces(of: pages, from: start * blockSize, count: count * blockSize)
      if let first {
        let sector = first * UInt64(blockSize / BlockDevice.sectorSize)
        let bio: Bio =
          parts.count == 1
          ? .read(sector: sector, into: parts[0]) : .read(sector: sector, intoSegments: parts)
        try submitBio(bio, to: device)
      } else {
        for piece in parts { memset(piece.baseAddress!, 0, piece.count) }
      }
    }
  }

  /// Writes the parts of `pages` (each ``pageSize`` bytes, apart in memory)
  /// that have a block in `blocks`, as ``writeBlocks(_:blockSize:to:from:)``
  /// writes a buffer made of the pages back to back: a run of consecutive
  /// blocks as one bio with a segment per piece of a page (pwritev below).
  /// Errors as ``readBlocks(_:blockSize:from:intoPages:)``.
  public func writeBlocks(
    _ blocks: [UInt64?], blockSize: Int, to device: BlockDevice,
    fromPages pages: [UnsafeRawBufferPointer]
  ) throws(Errno) {
    let pageSize = PageCache.pageSize
    guard pages.allSatisfy({ $0.count == pageSize && $0.baseAddress != nil }) else {
      throw .EINVAL
    }
    try checkBlocks(blocks, blockSize: blockSize, device: device, pageBytes: pages.count * pageSize)
    let mutable = pages.map { UnsafeMutableRawBufferPointer(mutating: $0) }
    try forEachRun(blocks) { (first, start, count) throws(Errno) in
      guard let first else { return }
      let parts = pieces(of: mutable, from: start * blockSize, count: count * blockSize)
      let sector = first * UInt64(blockSize / BlockDevice.sectorSize)
      let bio =
        parts.count == 1
        ? Bio(operation: .write, sector: sector, buffer: parts[0])
        : Bio(operation: .write, sector: sector, segments: parts)
      try submitBio(bio, to: device)
    }
  }

  /// The pieces of `pages` (each ``pageSize`` bytes) that hold bytes
  /// `offset..<offset + count` of the pages taken back to back, in order;
  /// none empty.
  private func pieces(
    of pages: [UnsafeMutableRawBufferPointer], from offset: Int, count: Int
  ) -> [UnsafeMutableRawBufferPointer] {
    let pageSize = PageCache.pageSize
    var parts: [UnsafeMutableRawBufferPointer] = []
    parts.reserveCapacity(count / pageSize + 2)
    var position = offset
    let end = offset + count
    while position < end {
      let inPage = position % pageSize
      let length = min(pageSize - inPage, end - position)
      parts.append(
        UnsafeMutableRawBufferPointer(
          rebasing: pages[position / pageSize][inPage..<inPage + length]))
      position += length
    }
    return parts
  }

  /// Writes back everything dirty, waits for it, stops the flusher and drops
  /// every entry: the cache holds nothing afterwards (kill_block_super():
  /// sync, then invalidate). Throws EIO if a write failed; the entries that
  /// could not be written stay cached and dirty, so nothing is lost.
  public func shutdown() throws(Errno) {
    stopFlusher()
    try syncAll()
    lock.withLock {
      var entry = lruCold
      while let current = entry {
        entry = current.lruPrev
        if !current.dirty && !current.underWriteback && !current.locked {
          detachLocked(current)
        }
      }
    }
  }

  // MARK: - Internals shared by AddressSpace and BufferCache

  /// The CLOCK_MONOTONIC time in seconds.
  static let monotonicSeconds: @Sendable () -> Double = {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  private func checkBlocks(
    _ blocks: [UInt64?], blockSize: Int, device: BlockDevice, pageBytes: Int
  ) throws(Errno) {
    guard blockSize >= BlockDevice.sectorSize, blockSize <= PageCache.pageSize,
      blockSize & (blockSize - 1) == 0, blockSize % device.logicalBlockSize == 0,
      blocks.count <= pageBytes / blockSize
    else { throw .EINVAL }
    let deviceBlocks = device.sizeInBytes / UInt64(blockSize)
    for case let block? in blocks where block >= deviceBlocks { throw .EIO }
  }

  /// Calls `body(first block or nil, first part, parts)` for each run of
  /// consecutive blocks (or of holes) in `blocks`.
  private func forEachRun(
    _ blocks: [UInt64?], _ body: (UInt64?, Int, Int) throws(Errno) -> Void
  ) throws(Errno) {
    var start = 0
    while start < blocks.count {
      var end = start + 1
      while end < blocks.count {
        if let first = blocks[start] {
          guard let next = blocks[end], next == first + UInt64(end - start) else { break }
        } else if blocks[end] != nil {
          break
        }
        end += 1
      }
      try body(blocks[start], start, end - start)
      start = end
    }
  }

  /// The entry of `owner` at `index`, if cached.
  func lookupLocked(_ owner: CacheEntry.Owner, _ index: UInt64) -> CacheEntry? {
    switch owner {
    case .page(let mapping): mapping.pages[index]
    case .buffer(let buffers): buffers.buffers[index]
    }
  }

  /// Returns the entry of `owner` at `index` pinned and up to date, reading it
  /// with `fill` on a miss (like filemap_get_folio() + filemap_read_folio(),
  /// or __bread()). With `forOverwrite`, a missing entry is not read: it is
  /// returned pinned, locked and not up to date with `mustFinish` set, and
  /// the caller fills all of it and calls `finishOverwrite`. A failed read
  /// caches nothing and throws. `inserted` says whether the entry is new in
  /// the cache (only then can the cache have outgrown its bound).
  func getEntry(
    _ owner: CacheEntry.Owner, index: UInt64, size: Int, forOverwrite: Bool = false,
    fill: (UnsafeMutableRawBufferPointer) throws(Errno) -> Void
  ) throws(Errno) -> (entry: CacheEntry, mustFinish: Bool, inserted: Bool) {
    var hook: (@Sendable (PageCacheTraceEvent) -> Void)?
    var fresh: CacheEntry?
    var reread: CacheEntry?
    let found: CacheEntry? = lock.withLock { () -> CacheEntry? in
      while true {
        if let entry = lookupLocked(owner, index) {
          if entry.locked {
            lock.wait()
            continue
          }
          entry.pins += 1
          touchLocked(entry)
          if entry.uptodate {
            if !forOverwrite { counters.hits += 1 }
            return entry
          }
          // A buffer from getblk() that nobody filled: read it now.
          counters.misses += 1
          entry.locked = true
          reread = entry
          hook = traceHookStorage
          return nil
        }
        let entry = CacheEntry(owner: owner, index: index, size: size)
        entry.locked = true
        entry.pins = 1
        insertLocked(entry)
        if !forOverwrite { counters.misses += 1 }
        hook = traceHookStorage
        fresh = entry
        return nil
      }
    }
    if let found { return (found, false, false) }
    if let entry = fresh {
      if forOverwrite { return (entry, true, true) }
      hook?(missEvent(owner, index))
      do {
        try CacheIOContext.run { () throws(Errno) in try fill(entry.bytes) }
      } catch {
        lock.withLock {
          detachLocked(entry)
          entry.locked = false
          entry.pins -= 1
          lock.wakeAll()
        }
        throw error
      }
      finishReadLocking(entry)
      return (entry, false, true)
    }
    // An existing entry that was not up to date: read into a bounce buffer,
    // since a BufferHead may point at the bytes.
    guard let entry = reread else { throw .EIO }  // unreachable: one of the three is set
    hook?(missEvent(owner, index))
    let bounce = UnsafeMutableRawBufferPointer.allocate(byteCount: entry.size, alignment: 4096)
    defer { bounce.deallocate() }
    do {
      try CacheIOContext.run { () throws(Errno) in try fill(bounce) }
    } catch {
      lock.withLock {
        entry.locked = false
        entry.pins -= 1
        lock.wakeAll()
      }
      throw error
    }
    entry.dataLock.withLock { entry.bytes.copyMemory(from: UnsafeRawBufferPointer(bounce)) }
    finishReadLocking(entry)
    return (entry, false, false)
  }

  /// A read from disk into `entry` succeeded: it is up to date and unlocked
  /// (folio_mark_uptodate() + folio_unlock()), counted, and its waiters woken.
  private func finishReadLocking(_ entry: CacheEntry) {
    lock.withLock {
      entry.uptodate = true
      entry.locked = false
      counters.pagesRead += 1
      counters.bytesRead += UInt64(entry.size)
      lock.wakeAll()
    }
  }

  /// Ends an overwrite begun by `getEntry(forOverwrite: true)`: the entry is
  /// up to date and dirty, unlocked and unpinned.
  func finishOverwrite(_ entry: CacheEntry) {
    let now = clock()
    lock.withLock {
      entry.uptodate = true
      entry.locked = false
      markDirtyLocked(entry, now: now)
      entry.pins -= 1
      lock.wakeAll()
    }
  }

  /// Marks `entry` dirty (and up to date) at time `now`, if it is still cached.
  func markDirty(_ entry: CacheEntry) {
    let now = clock()
    lock.withLock { markDirtyLocked(entry, now: now) }
  }

  func markDirtyLocked(_ entry: CacheEntry, now: Double) {
    guard entry.attached else { return }  // truncated or forgotten meanwhile
    entry.uptodate = true
    if !entry.dirty {
      entry.dirty = true
      entry.dirtiedAt = now
      counters.dirtyBytes += UInt64(entry.size)
    }
  }

  /// Drops one pin taken by `getEntry`.
  func unpin(_ entry: CacheEntry) {
    lock.withLock { entry.pins -= 1 }
  }

  /// Drops one pin of each entry, under one taking of the lock.
  func unpin(_ entries: [CacheEntry]) {
    guard !entries.isEmpty else { return }
    lock.withLock { for entry in entries { entry.pins -= 1 } }
  }

  /// Marks `entry` dirty and drops one pin, in one go (after a write into it).
  func markDirtyAndUnpin(_ entry: CacheEntry) {
    let now = clock()
    lock.withLock {
      markDirtyLocked(entry, now: now)
      entry.pins -= 1
    }
  }

  private func missEvent(_ owner: CacheEntry.Owner, _ index: UInt64) -> PageCacheTraceEvent {
    switch owner {
    case .page(let mapping): .pageMiss(ino: mapping.ino, page: index)
    case .buffer(let buffers): .bufferMiss(device: buffers.device.name, block: index)
    }
  }

  /// Adds `entry` to its owner's map and the hot end of the LRU.
  func insertLocked(_ entry: CacheEntry) {
    switch entry.owner {
    case .page(let mapping):
      mapping.pages[entry.index] = entry
      counters.cachedBytes += UInt64(entry.size)
    case .buffer(let buffers):
      buffers.buffers[entry.index] = entry
      counters.bufferBytes += UInt64(entry.size)
    }
    entry.attached = true
    entry.lruNext = lruHot
    entry.lruPrev = nil
    lruHot?.lruPrev = entry
    lruHot = entry
    if lruCold == nil { lruCold = entry }
  }

  /// Removes `entry` from its owner's map, the LRU and the counters (its
  /// dirty bytes, if any, are discarded: callers decide that on purpose).
  func detachLocked(_ entry: CacheEntry) {
    guard entry.attached else { return }
    entry.attached = false
    switch entry.owner {
    case .page(let mapping):
      if mapping.pages[entry.index] === entry { mapping.pages[entry.index] = nil }
      counters.cachedBytes -= UInt64(entry.size)
    case .buffer(let buffers):
      if buffers.buffers[entry.index] === entry { buffers.buffers[entry.index] = nil }
      counters.bufferBytes -= UInt64(entry.size)
    }
    if entry.dirty {
      entry.dirty = false
      counters.dirtyBytes -= UInt64(entry.size)
    }
    unlinkLocked(entry)
  }

  /// Moves `entry` to the hot end (mark_page_accessed(), simplified to one list).
  func touchLocked(_ entry: CacheEntry) {
    guard entry.attached, lruHot !== entry else { return }
    unlinkLocked(entry)
    entry.lruNext = lruHot
    lruHot?.lruPrev = entry
    lruHot = entry
    if lruCold == nil { lruCold = entry }
  }

  private func unlinkLocked(_ entry: CacheEntry) {
    if let prev = entry.lruPrev {
      prev.lruNext = entry.lruNext
    } else if lruHot === entry {
      lruHot = entry.lruNext
    }
    if let next = entry.lruNext {
      next.lruPrev = entry.lruPrev
    } else if lruCold === entry {
      lruCold = entry.lruPrev
    }
    entry.lruPrev = nil
    entry.lruNext = nil
  }

  /// Bytes held by attached entries.
  var usedBytesLocked: UInt64 { counters.cachedBytes + counters.bufferBytes }

  /// Drops clean, idle entries from the cold end until the cache fits its
  /// bound (shrink_inactive_list(), without the second chance of an active list).
  func evictCleanLocked() {
    var entry = lruCold
    var skipped = 0
    while usedBytesLocked > counters.capacityBytes, skipped < PageCache.reclaimScanLimit,
      let current = entry
    {
      entry = current.lruPrev
      if current.isReclaimable {
        detachLocked(current)
        counters.evictions += 1
      } else {
        skipped += 1
      }
    }
  }

  /// How many entries in use (dirty, under I/O, held) eviction passes over
  /// at the cold end before it stops, like the kernel's bounded LRU scan.
  /// A cache full of dirty pages then costs each writer a short walk, not
  /// the whole list: `balance()` writes the coldest dirty entries back, and
  /// they are dropped from the cold end next.
  static let reclaimScanLimit = 64

  /// The most consecutive pages writeback hands a file system in one
  /// writepages call (128 KiB, like a typical max_sectors_kb bio).
  static let writebackRunPages = 32

  /// The most consecutive pages writeback hands a file system that takes
  /// scattered pages in one call (1 MiB): they need no bounce buffer, and
  /// a larger bio costs fewer map walks and system calls (like a device
  /// with a large max_sectors_kb).
  static let scatteredRunPages = 256

  /// The most dirty entries `balance()` writes back per taking of the lock.
  static let balanceBatchEntries = 256
}
