// Writeback of dirty pages and buffers, like mm/page-writeback.c and
// fs/fs-writeback.c: on fsync (`AddressSpace.sync`, `BufferCache.sync`), on
// syncfs or unmount (`syncAll`), when a writer pushes the cache over its bound
// (`balance`, like balance_dirty_pages()), and from the flusher thread (the
// kernel's per-bdi writeback worker, wb_workfn()), which wakes every
// dirty_writeback_centisecs and writes what has been dirty for longer than
// dirty_expire_centisecs.
//
// One writeback, three steps: under the cache lock the entries are chosen,
// their dirty bit cleared and PG_writeback set (`beginWritebackLocked`);
// without the lock each entry's bytes are copied under its data lock into a
// bounce buffer and written (so a writer may change the page meanwhile: it
// only dirties it again, like a stable-pages bounce), or, for a file system
// that takes scattered pages, written straight from the pages with their
// data locks held (a writer waits, like folio_wait_stable()); under the lock again
// writeback ends, and a failed entry is dirty once more and its error recorded
// (`mapping_set_error()`), to be reported once by the next sync of its owner
// and once by the next syncAll (errseq_t's "seen" rule, per owner).

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

extension PageCache {
  /// Writes back every entry that has been dirty for `dirtyExpireInterval`
  /// seconds at time `now` (wb_writeback() of a WB_REASON_PERIODIC run), and
  /// returns how many were written. The flusher thread calls it with
  /// `clock()`; tests call it with the time they want.
  @discardableResult
  public func runFlusherOnce(now: Double) -> Int {
    let chosen = lock.withLock { () -> [CacheEntry] in
      var chosen: [CacheEntry] = []
      var entry = lruCold
      while let current = entry {
        entry = current.lruPrev
        if current.dirty, !current.underWriteback, now - current.dirtiedAt >= dirtyExpireInterval {
          chosen.append(current)
        }
      }
      beginWritebackLocked(chosen)
      return chosen
    }
    let (written, _) = performWriteback(chosen)
    balance()
    return written
  }

  /// Writes back every dirty page and buffer, waits for writeback in flight,
  /// and flushes the devices written (sync_filesystem() + blkdev_issue_flush()).
  /// Throws EIO when a write failed, now or in an earlier writeback that no
  /// syncAll has reported yet; the data that failed stays dirty.
  public func syncAll() throws(Errno) {
    let chosen = lock.withLock { () -> [CacheEntry] in
      while anyLocked({ $0.underWriteback }) { lock.wait() }
      var chosen: [CacheEntry] = []
      var entry = lruCold
      while let current = entry {
        entry = current.lruPrev
        if current.dirty { chosen.append(current) }
      }
      beginWritebackLocked(chosen)
      return chosen
    }
    let (_, failed) = performWriteback(chosen)
    var devices: [ObjectIdentifier: BlockDevice] = [:]
    for entry in chosen {
      if let device = entry.device { devices[ObjectIdentifier(device)] = device }
    }
    var flushFailed = false
    for device in devices.values {
      do { try submitBio(.flush, to: device) } catch { flushFailed = true }
    }
    let recorded = lock.withLock { () -> Errno? in
      defer { syncAllError = nil }
      return syncAllError
    }
    if failed || flushFailed || recorded != nil { throw .EIO }
  }

  /// Starts the flusher thread: it wakes every `dirtyWritebackInterval`
  /// seconds and runs ``runFlusherOnce(now:)`` with `clock()`. Does nothing
  /// if it runs already or the interval is 0 (writeback only on sync then).
  public func startFlusher() {
    guard dirtyWritebackInterval > 0 else { return }
    lock.withLock {
      guard flusher == nil else { return }
      let thread = Flusher(cache: self, interval: dirtyWritebackInterval)
      flusher = thread
      thread.start()
    }
  }

  /// Stops the flusher thread and waits for it to end (kthread_stop()).
  public func stopFlusher() {
    let thread = lock.withLock { () -> Flusher? in
      defer { flusher = nil }
      return flusher
    }
    thread?.stop()
  }

  /// Whether the flusher thread runs.
  public var flusherIsRunning: Bool { lock.withLock { flusher != nil } }

  // MARK: - Internals

  /// Writes back the dirty entries of one owner and waits for its writeback
  /// in flight (filemap_write_and_wait()), then flushes `device` if given.
  /// Throws EIO if a write failed now or one failed before and was not reported.
  func syncOwner(
    entries: () -> [CacheEntry], takeError: () -> Errno?, device: BlockDevice?
  ) throws(Errno) {
    let chosen = lock.withLock { () -> [CacheEntry] in
      while entries().contains(where: { $0.underWriteback }) { lock.wait() }
      // In file order, so that consecutive pages make runs.
      let chosen = entries().filter { $0.dirty }.sorted { $0.index < $1.index }
      beginWritebackLocked(chosen)
      return chosen
    }
    let (_, failed) = performWriteback(chosen)
    var flushFailed = false
    if let device {
      do { try submitBio(.flush, to: device) } catch { flushFailed = true }
    }
    let recorded = lock.withLock { takeError() }
    if failed || flushFailed || recorded != nil { throw .EIO }
  }

  /// Writes one entry now if it is dirty, after any writeback of it in flight
  /// (sync_dirty_buffer()). Throws EIO if that write fails.
  func syncEntry(_ entry: CacheEntry) throws(Errno) {
    let chosen = lock.withLock { () -> [CacheEntry] in
      while entry.underWriteback { lock.wait() }
      guard entry.dirty, entry.attached else { return [] }
      beginWritebackLocked([entry])
      return [entry]
    }
    let (_, failed) = performWriteback(chosen)
    if failed { throw .EIO }
  }

  /// Keeps the cache under its bound: drops clean entries, and while that is
  /// not enough writes dirty ones back from the cold end, then drops them
  /// (balance_dirty_pages() + reclaim, done by the thread that grew the
  /// cache). Inside a file system's readFolio or writepage it only drops clean
  /// entries, so writeback never recurses. Stops when nothing more can be
  /// written, or a write fails (that data stays dirty; the bound is exceeded).
  func balance() {
    let nested = CacheIOContext.isActive
    while true {
      let batch = lock.withLock { () -> [CacheEntry] in
        evictCleanLocked()
        guard !nested, usedBytesLocked > counters.capacityBytes else { return [] }
        var batch: [CacheEntry] = []
        var excess = Int64(usedBytesLocked) - Int64(counters.capacityBytes)
        var entry = lruCold
        while excess > 0, batch.count < PageCache.balanceBatchEntries, let current = entry {
          entry = current.lruPrev
          if current.dirty, !current.underWriteback, !current.locked {
            batch.append(current)
            excess -= Int64(current.size)
          }
        }
        beginWritebackLocked(batch)
        return batch
      }
      if batch.isEmpty { return }
      let (_, failed) = performWriteback(batch)
      if failed {
        lock.withLock { evictCleanLocked() }
        return
      }
    }
  }

  /// Whether any attached entry satisfies `test` (the lock held).
  func anyLocked(_ test: (CacheEntry) -> Bool) -> Bool {
    var entry = lruHot
    while let current = entry {
      if test(current) { return true }
      entry = current.lruNext
    }
    return false
  }

  /// Clears the dirty bit of each entry and sets PG_writeback
  /// (folio_clear_dirty_for_io() + folio_start_writeback()).
  func beginWritebackLocked(_ entries: [CacheEntry]) {
    for entry in entries {
      entry.dirty = false
      counters.dirtyBytes -= UInt64(entry.size)
      entry.underWriteback = true
      counters.writebackBytes += UInt64(entry.size)
    }
  }

  /// Writes each entry's bytes without the cache lock, then ends its
  /// writeback (folio_end_writeback()). Consecutive pages of one file whose
  /// file system takes runs go in one ``AddressSpaceOperations/writepages(_:index:count:from:)``
  /// call (up to `writebackRunPages`, or `scatteredRunPages` for one that
  /// takes scattered pages), so their blocks can go as one bio.
  /// Returns how many were written and whether any failed.
  func performWriteback(_ entries: [CacheEntry]) -> (written: Int, failed: Bool) {
    guard !entries.isEmpty else { return (0, false) }
    var written = 0
    var failed = false
    // The bounce buffer, made when a run first needs one (a file system
    // that takes scattered pages never does).
    var bounceStorage: UnsafeMutableRawBufferPointer?
    defer { bounceStorage?.deallocate() }
    let bounceBytes = max(
      entries.map(\.size).max() ?? PageCache.pageSize,
      PageCache.pageSize * PageCache.writebackRunPages)
    var first = 0
    while first < entries.count {
      let end = runEnd(entries, from: first)
      var error: Errno?
      if case .page(let mapping) = entries[first].owner, mapping.operations.takesScatteredPages {
        // Straight from the pages, their bytes locked in page order (as
        // splice takes them) so the disk gets what the page holds
        // (stable pages); a writer waits for the write, then dirties the
        // page again.
        let run = entries[first..<end]
        for entry in run { entry.dataLock.lock() }
        do {
          try CacheIOContext.run { () throws(Errno) in
            try mapping.operations.writepages(
              mapping, index: entries[first].index,
              fromPages: run.map { UnsafeRawBufferPointer($0.bytes) })
          }
        } catch let failure {
          error = failure
        }
        for entry in run.reversed() { entry.dataLock.unlock() }
      } else {
        let bounce =
          bounceStorage
          ?? UnsafeMutableRawBufferPointer.allocate(byteCount: bounceBytes, alignment: 4096)
        bounceStorage = bounce
        var offset = 0
        for entry in entries[first..<end] {
          let bytes = UnsafeMutableRawBufferPointer(rebasing: bounce[offset..<offset + entry.size])
          entry.dataLock.withLock { bytes.copyMemory(from: UnsafeRawBufferPointer(entry.bytes)) }
          offset += entry.size
        }
        do {
          try CacheIOContext.run { () throws(Errno) in
            let bytes = UnsafeRawBufferPointer(rebasing: bounce[0..<offset])
            if end - first > 1, case .page(let mapping) = entries[first].owner {
              try mapping.operations.writepages(
                mapping, index: entries[first].index, count: end - first, from: bytes)
            } else {
              try write(entries[first], from: bytes)
            }
          }
        } catch let failure {
          error = failure
        }
      }
      lock.withLock {
        for entry in entries[first..<end] {
          entry.underWriteback = false
          counters.writebackBytes -= UInt64(entry.size)
          if let error {
            failed = true
            // The data is not lost: dirty again (if nobody dirtied it meanwhile),
            // keeping its old age so the flusher retries it on its next run.
            if entry.attached, !entry.dirty {
              entry.dirty = true
              counters.dirtyBytes += UInt64(entry.size)
            }
            recordErrorLocked(entry, error)
          } else {
            written += 1
            counters.pagesWritten += 1
            counters.bytesWritten += UInt64(entry.size)
          }
        }
        lock.wakeAll()
      }
      first = end
    }
    return (written, failed)
  }

  /// The end of the run of entries that starts at `first`: the next pages of
  /// the same file, one index apart, if its file system takes runs.
  private func runEnd(_ entries: [CacheEntry], from first: Int) -> Int {
    guard case .page(let mapping) = entries[first].owner, mapping.operations.writesPageRuns
    else { return first + 1 }
    let limit =
      mapping.operations.takesScatteredPages
      ? PageCache.scatteredRunPages : PageCache.writebackRunPages
    var end = first + 1
    while end < entries.count, end - first < limit,
      case .page(let next) = entries[end].owner, next === mapping,
      entries[end].index == entries[end - 1].index &+ 1
    {
      end += 1
    }
    return end
  }

  /// Sends one entry's bytes to disk: a page through its owner's writepage,
  /// a buffer as one WRITE bio (submit_bh()).
  private func write(_ entry: CacheEntry, from bytes: UnsafeRawBufferPointer) throws(Errno) {
    switch entry.owner {
    case .page(let mapping):
      try mapping.operations.writepage(mapping, index: entry.index, from: bytes)
    case .buffer(let buffers):
      let sector = entry.index * UInt64(buffers.blockSize / BlockDevice.sectorSize)
      try submitBio(.write(sector: sector, from: bytes), to: buffers.device)
    }
  }

  /// mapping_set_error(): the owner's next sync and the next syncAll see EIO.
  private func recordErrorLocked(_ entry: CacheEntry, _ error: Errno) {
    switch entry.owner {
    case .page(let mapping): mapping.writebackError = .EIO
    case .buffer(let buffers): buffers.writebackError = .EIO
    }
    syncAllError = .EIO
  }
}

extension CacheEntry {
  /// The device a flush goes to after writing this entry, if known.
  var device: BlockDevice? {
    switch owner {
    case .page(let mapping): mapping.device
    case .buffer(let buffers): buffers.device
    }
  }
}

/// The flusher thread (the per-bdi writeback worker): sleeps
/// `interval` seconds, or until stopped, then runs the cache's periodic
/// writeback. It holds the cache weakly, so a cache nobody uses can go away.
///
/// Locking: `state` guards `stopping` and `thread`, and wakes the sleeper on stop.
final class Flusher: @unchecked Sendable {
  private weak var cache: PageCache?
  private let interval: Double
  private let state = ConditionLock()
  private var stopping = false
  private var thread: pthread_t?

  init(cache: PageCache, interval: Double) {
    self.cache = cache
    self.interval = interval
  }

  /// Starts the thread (kthread_run()); it keeps this object alive until it ends.
  func start() {
    // No thread to be had: writeback on sync only.
    guard let handle = startKernelThread({ [self] in run() }) else { return }
    state.withLock { thread = handle }
  }

  /// Asks the thread to end and waits for it (kthread_stop()). From the
  /// flusher thread itself (the cache's last reference dropped there) it
  /// detaches instead of joining itself.
  func stop() {
    let handle = state.withLock {
      stopping = true
      let handle = thread
      thread = nil
      state.wakeAll()
      return handle
    }
    guard let handle else { return }
    if pthread_equal(handle, pthread_self()) != 0 {
      pthread_detach(handle)
    } else {
      pthread_join(handle, nil)
    }
  }

  private func run() {
    while true {
      let stop = state.withLock {
        let deadline = ConditionLock.deadline(after: interval)
        while !stopping {
          if !state.wait(until: deadline) { break }
        }
        return stopping
      }
      if stop { return }
      guard let cache else { return }
      cache.runFlusherOnce(now: cache.clock())
    }
  }
}
