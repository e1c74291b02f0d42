// A file's pages in the page cache, like the kernel's `struct address_space`
// (include/linux/fs.h) with its `address_space_operations`: the cache finds
// or reads pages by index, the file system says how a page maps to blocks
// (read_folio, writepage), and writeback is the cache's job (mm/filemap.c:
// "a read is a page-cache lookup, a miss becomes a bio").
//
// Locking: `pages` and `writebackError` are guarded by the cache's lock; see
// PageCache.swift. The file system serializes writes against truncation of
// the same file with its own inode lock (i_rwsem), as in the kernel.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// How a file system moves one file page between the cache and its disk
/// (struct address_space_operations).
///
/// Both methods run without any cache lock held, on the thread that needs
/// the page, and may read metadata through a ``BufferCache`` (an indirect
/// block, say). They should submit their bios through
/// ``PageCache/submitBio(_:to:)`` or ``PageCache/readBlocks(_:blockSize:from:into:)``
/// so that the bios appear in the trace.
public protocol AddressSpaceOperations: Sendable {
  /// Fills `page` (``PageCache/pageSize`` bytes) with page `index` of the file:
  /// the blocks it maps to, zeros for holes and past the end of the file
  /// (read_folio). A thrown error (EIO for a device error) reaches the reader;
  /// nothing is cached then.
  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  /// Whether a miss may hand this file system runs of consecutive missing
  /// pages through ``readFolios(_:index:count:into:)`` (default false: page
  /// by page through ``readFolio(_:index:into:)``, each page's error its own,
  /// as before readahead existed).
  var readsPageRuns: Bool { get }
  /// Fills `pages` (`count` pages, back to back) with pages
  /// `index..<index + count` of the file, each as ``readFolio(_:index:into:)``
  /// would (->readahead, mpage_readahead()): one map walk for the run, and
  /// its consecutive blocks as one bio. A thrown error caches none of them.
  func readFolios(
    _ mapping: AddressSpace, index: UInt64, count: Int, into pages: UnsafeMutableRawBufferPointer
  ) throws(Errno)
  /// Writes the dirty page `index` to disk from `page` (writepage), allocating
  /// blocks if the file system allocates at writeback. A thrown error leaves
  /// the page dirty and is reported to the next ``AddressSpace/sync()``.
  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  /// Whether writeback may hand this file system runs of consecutive dirty
  /// pages through ``writepages(_:index:count:from:)`` (default false: page
  /// by page, each page's error its own).
  var writesPageRuns: Bool { get }
  /// Writes the dirty pages `index..<index + count` from `pages` (`count`
  /// pages, back to back), like ext2_writepages() over a range: their blocks
  /// may go as fewer, larger bios. A thrown error leaves all of them dirty.
  func writepages(
    _ mapping: AddressSpace, index: UInt64, count: Int, from pages: UnsafeRawBufferPointer
  ) throws(Errno)
  /// Whether the cache may hand this file system a run's pages where they
  /// lie in memory, through ``readFolios(_:index:intoPages:)`` and
  /// ``writepages(_:index:fromPages:)``, instead of one buffer it copies
  /// them through (default false). The kernel's bio takes the pages
  /// themselves (bio_add_folio()); here a scattered bio becomes one
  /// preadv/pwritev. Writeback then holds the pages' bytes locked while the
  /// file system writes them, so it must not touch those pages itself.
  var takesScatteredPages: Bool { get }
  /// Fills `pages` (``PageCache/pageSize`` bytes each, apart in memory) with
  /// pages `index..<index + pages.count` of the file, as
  /// ``readFolios(_:index:count:into:)`` fills one buffer.
  func readFolios(
    _ mapping: AddressSpace, index: UInt64, intoPages pages: [UnsafeMutableRawBufferPointer])
    throws(Errno)
  /// Writes the dirty pages `index..<index + pages.count` from `pages`
  /// (``PageCache/pageSize`` bytes each, apart in memory), as
  /// ``writepages(_:index:count:from:)`` writes one buffer (also for a
  /// single page).
  func writepages(_ mapping: AddressSpace, index: UInt64, fromPages pages: [UnsafeRawBufferPointer])
    throws(Errno)
}

extension AddressSpaceOperations {
  /// Page by page unless a file system says otherwise.
  public var readsPageRuns: Bool { false }

  /// Calls ``readFolio(_:index:into:)`` for each page in turn (a file system
  /// without ->readahead: read_pages() falls back to ->read_folio()).
  public func readFolios(
    _ mapping: AddressSpace, index: UInt64, count: Int, into pages: UnsafeMutableRawBufferPointer
  ) throws(Errno) {
    let size = PageCache.pageSize
    for i in 0..<count {
      try readFolio(
        mapping, index: index + UInt64(i),
        into: UnsafeMutableRawBufferPointer(rebasing: pages[i * size..<(i + 1) * size]))
    }
  }

  /// Page by page unless a file system says otherwise.
  public var writesPageRuns: Bool { false }

  /// Calls ``writepage(_:index:from:)`` for each page in turn.
  public func writepages(
    _ mapping: AddressSpace, index: UInt64, count: Int, from pages: UnsafeRawBufferPointer
  ) throws(Errno) {
    let size = PageCache.pageSize
    for i in 0..<count {
      try writepage(
        mapping, index: index + UInt64(i),
        from: UnsafeRawBufferPointer(rebasing: pages[i * size..<(i + 1) * size]))
    }
  }
}

extension AddressSpaceOperations {
  /// Pages through one buffer unless a file system says otherwise.
  public var takesScatteredPages: Bool { false }

  /// Reads the run into one buffer with ``readFolios(_:index:count:into:)``
  /// and copies each page out.
  public func readFolios(
    _ mapping: AddressSpace, index: UInt64, intoPages pages: [UnsafeMutableRawBufferPointer]
  ) throws(Errno) {
    let size = PageCache.pageSize
    guard pages.allSatisfy({ $0.count == size }) else { throw .EINVAL }
    let whole = UnsafeMutableRawBufferPointer.allocate(
      byteCount: pages.count * size, alignment: PagePool.pageSize)
    defer { whole.deallocate() }
    try readFolios(mapping, index: index, count: pages.count, into: whole)
    for (i, page) in pages.enumerated() {
      page.copyMemory(from: UnsafeRawBufferPointer(rebasing: whole[i * size..<(i + 1) * size]))
    }
  }

  /// Copies the pages into one buffer and writes it with ``writepages(_:index:count:from:)``.
  public func writepages(
    _ mapping: AddressSpace, index: UInt64, fromPages pages: [UnsafeRawBufferPointer]
  ) throws(Errno) {
    let size = PageCache.pageSize
    guard pages.allSatisfy({ $0.count == size }) else { throw .EINVAL }
    let whole = UnsafeMutableRawBufferPointer.allocate(
      byteCount: pages.count * size, alignment: PagePool.pageSize)
    defer { whole.deallocate() }
    for (i, page) in pages.enumerated() {
      UnsafeMutableRawBufferPointer(rebasing: whole[i * size..<(i + 1) * size]).copyMemory(
        from: page)
    }
    try writepages(mapping, index: index, count: pages.count, from: UnsafeRawBufferPointer(whole))
  }
}

/// The cached pages of one file (struct address_space, i_mapping of an inode).
///
/// A file system's read and write go through ``read(at:into:)`` and
/// ``write(at:from:)``, which copy between the caller's memory and the cached
/// pages, reading a page with ``AddressSpaceOperations/readFolio(_:index:into:)``
/// on a miss (generic_file_read_iter(), generic_perform_write()). Neither knows
/// the file's size: the file system clips reads at i_size and calls
/// ``truncate(from:)`` when the file shrinks.
public final class AddressSpace: @unchecked Sendable {
  /// The cache the pages live in.
  public let cache: PageCache
  /// The inode number, for traces ("pagecache miss ino 12 page 3").
  public let ino: UInt64
  /// The file system's page operations (a_ops).
  public let operations: any AddressSpaceOperations
  /// The device ``sync()`` flushes after writing, if any (the fsync of ext2
  /// issues blkdev_issue_flush() to its superblock's device).
  public let device: BlockDevice?

  /// Cached pages by index (i_pages); guarded by `cache.lock`.
  let pages = PageTable()
  /// A writeback error not yet reported by sync (mapping->wb_err); guarded by `cache.lock`.
  var writebackError: Errno?

  /// The address space of inode `ino` in `cache`, with `operations`, flushing
  /// `device` on sync.
  public init(
    cache: PageCache, ino: UInt64, operations: any AddressSpaceOperations,
    device: BlockDevice? = nil
  ) {
    self.cache = cache
    self.ino = ino
    self.operations = operations
    self.device = device
  }

  /// The most pages one miss reads together (256 KiB), like the kernel's
  /// readahead window (read_ahead_kb) bounding page_cache_ra_unbounded().
  static let readaheadPages = 64

  /// Copies `buffer.count` bytes of the file from `offset` into `buffer`,
  /// page by page from the cache (filemap_read()). For a file system that
  /// takes page runs, a missing page is read together with the missing
  /// pages after it inside the range, up to 64 (256 KiB), with one
  /// ``AddressSpaceOperations/readFolios(_:index:count:into:)``
  /// (page_cache_sync_ra()). EINVAL if the range overflows; a failed read
  /// throws its error (EIO), caches none of that run's pages and leaves the
  /// pages before it cached.
  public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    guard !offset.addingReportingOverflow(UInt64(buffer.count)).overflow else { throw .EINVAL }
    // Only pages read in grow the cache: a read served from it needs no reclaim.
    var grew = false
    defer { if grew { cache.balance() } }
    let pageSize = UInt64(PageCache.pageSize)
    let end = offset + UInt64(buffer.count)
    try forEachPageRun(offset: offset, end: end, grew: &grew) { entries in
      for entry in entries {
        let pageStart = entry.index * pageSize
        let from = max(offset, pageStart)
        let to = min(end, pageStart + pageSize)
        entry.dataLock.withLock {
          (base + Int(from - offset)).copyMemory(
            from: entry.data + Int(from - pageStart), byteCount: Int(to - from))
        }
      }
      cache.unpin(entries)
    }
  }

  /// Hands `sink` the `count` bytes at `offset` straight from the cached
  /// pages, read in as `read(at:into:)` reads them (filemap_splice_read():
  /// the pages go to the reply, not through a buffer). Every page stays
  /// pinned, and its bytes locked, while `sink` runs; the locks are taken in
  /// page order, so two splices of one file never wait on each other in a
  /// cycle. EINVAL if the range overflows; a failed read throws before
  /// `sink` is called.
  public func splice(
    at offset: UInt64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) {
    guard count > 0 else { return sink([]) }
    guard !offset.addingReportingOverflow(UInt64(count)).overflow else { throw .EINVAL }
    var grew = false
    defer { if grew { cache.balance() } }
    let pageSize = UInt64(PageCache.pageSize)
    let end = offset + UInt64(count)
    var held: [CacheEntry] = []
    held.reserveCapacity(Int((end - 1) / pageSize - offset / pageSize + 1))
    defer { cache.unpin(held) }
    try forEachPageRun(offset: offset, end: end, grew: &grew) { held.append(contentsOf: $0) }
    var slices: [UnsafeRawBufferPointer] = []
    slices.reserveCapacity(held.count)
    for entry in held {
      let pageStart = entry.index * pageSize
      let from = max(offset, pageStart)
      let to = min(end, pageStart + pageSize)
      slices.append(
        UnsafeRawBufferPointer(start: entry.data + Int(from - pageStart), count: Int(to - from)))
    }
    for entry in held { entry.dataLock.lock() }
    sink(slices)
    for entry in held.reversed() { entry.dataLock.unlock() }
  }

  /// `splice` for a read that bypasses the page cache (O_DIRECT, like
  /// ext2's direct reads through iomap_dio_rw()): pages that are cached are
  /// used, since a dirty one holds bytes the disk has not (the kernel writes
  /// them back first, filemap_write_and_wait_range()); missing ones are read
  /// from the disk into a buffer of the call's own and not cached, so a
  /// direct reader neither pays for pages it will not read again nor pushes
  /// out pages others use. The caller holds off writers of the file (as the
  /// kernel's direct read holds the inode lock shared). EINVAL if the range
  /// overflows; a failed read throws before `sink` is called.
  public func spliceDirect(
    at offset: UInt64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) {
    guard count > 0 else { return sink([]) }
    guard !offset.addingReportingOverflow(UInt64(count)).overflow else { throw .EINVAL }
    let pageSize = UInt64(PageCache.pageSize)
    let end = offset + UInt64(count)
    let first = offset / pageSize
    let pageCount = Int((end - 1) / pageSize - first + 1)
    // A page being read in, or not up to date, is left to the cached path,
    // which waits for it.
    guard let cached = cache.pinCachedPages(self, index: first, count: pageCount) else {
      return try splice(at: offset, count: count, to: sink)
    }
    let held = cached.compactMap { $0 }
    defer { cache.unpin(held) }
    let missing = pageCount - held.count
    // The missing pages' place: the thread's buffer, or one of their own
    // for a range beyond FUSE's largest READ.
    let kept = missing * PageCache.pageSize <= ThreadBuffer.directRead.bytes
    var buffer: UnsafeMutableRawBufferPointer?
    if missing > 0 {
      if kept {
        buffer = ThreadBuffer.directRead.take()
      } else {
        var memory: UnsafeMutableRawPointer?
        if posix_memalign(&memory, PagePool.pageSize, missing * PageCache.pageSize) == 0,
          let memory
        {
          buffer = UnsafeMutableRawBufferPointer(start: memory, count: missing * PageCache.pageSize)
        }
      }
      guard buffer != nil else { throw .ENOMEM }
    }
    defer {
      if let buffer {
        if kept { ThreadBuffer.directRead.give(buffer) } else { free(buffer.baseAddress) }
      }
    }
    // Where each page's bytes are: its cache entry, or its place in the
    // buffer, which each run of missing pages fills with one readFolios.
    var pages = cached.map { $0.map { UnsafeRawPointer($0.data) } }
    var used = 0
    var i = 0
    while i < pageCount {
      guard pages[i] == nil, let base = buffer?.baseAddress else {
        i += 1
        continue
      }
      var run = 1
      while i + run < pageCount, pages[i + run] == nil { run += 1 }
      let into = UnsafeMutableRawBufferPointer(
        start: base + used * PageCache.pageSize, count: run * PageCache.pageSize)
      // Zeroed where the cache zeroes a new page: a lone page, or pages
      // read one by one (readFolio).
      if run == 1 || !operations.readsPageRuns {
        into.initializeMemory(as: UInt8.self, repeating: 0)
      }
      try CacheIOContext.run { () throws(Errno) in
        try operations.readFolios(self, index: first + UInt64(i), count: run, into: into)
      }
      for k in 0..<run {
        pages[i + k] = UnsafeRawPointer(base + (used + k) * PageCache.pageSize)
      }
      used += run
      i += run
    }
    var slices: [UnsafeRawBufferPointer] = []
    slices.reserveCapacity(pageCount)
    for (i, page) in pages.enumerated() {
      guard let page else { throw .EIO }  // unreachable: the buffer holds every missing page
      let pageStart = (first + UInt64(i)) * pageSize
      let from = Int(max(offset, pageStart) - pageStart)
      let to = Int(min(end, pageStart + pageSize) - pageStart)
      slices.append(UnsafeRawBufferPointer(start: page + from, count: to - from))
    }
    for entry in held { entry.dataLock.lock() }
    sink(slices)
    for entry in held.reversed() { entry.dataLock.unlock() }
  }

  /// Calls `body` with each run of pages (pinned, up to date) covering
  /// `offset..<end`, in order; the body unpins them (or keeps them). A
  /// missing page is read together with the missing pages after it, up to
  /// `readaheadPages`, for a file system that takes page runs. `grew` is set
  /// when pages came into the cache.
  private func forEachPageRun(
    offset: UInt64, end: UInt64, grew: inout Bool, _ body: ([CacheEntry]) -> Void
  ) throws(Errno) {
    let pageSize = UInt64(PageCache.pageSize)
    let last = (end - 1) / pageSize
    var index = offset / pageSize
    while index <= last {
      let limit =
        operations.readsPageRuns
        ? Int(min(last - index + 1, UInt64(AddressSpace.readaheadPages))) : 1
      let (entries, inserted) = try cache.getPages(self, index: index, maxCount: limit)
      if inserted { grew = true }
      body(entries)
      index += UInt64(entries.count)
    }
  }

  /// The most whole pages a write finds or adds under one taking of the
  /// cache lock (1 MiB, FUSE's largest WRITE), so the lock is never held
  /// long.
  static let overwriteRunPages = 256

  /// Copies `buffer` into the file's pages at `offset` and marks them dirty
  /// (generic_perform_write(): write_begin, copy, write_end). A page written
  /// only in part is read first; a page written whole is not. The data
  /// reaches the disk later, by writeback. EINVAL if the range overflows; a
  /// failed read of a partly written page throws its error (EIO), with the
  /// pages before it written.
  public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    guard !offset.addingReportingOverflow(UInt64(buffer.count)).overflow else { throw .EINVAL }
    defer { cache.balance() }
    let pageSize = PageCache.pageSize
    var done = 0
    while done < buffer.count {
      let position = offset + UInt64(done)
      let index = position / UInt64(pageSize)
      let inPage = Int(position % UInt64(pageSize))
      let wholePages = inPage == 0 ? (buffer.count - done) / pageSize : 0
      if wholePages > 0 {
        // Pages written whole, a run at a time: found or added under one
        // taking of the cache lock, copied, then dirtied under one more.
        let run = cache.getPagesForOverwrite(
          self, index: index, maxCount: min(wholePages, AddressSpace.overwriteRunPages))
        if !run.isEmpty {
          for entry in run {
            entry.dataLock.withLock {
              entry.data.copyMemory(from: base + done, byteCount: pageSize)
            }
            done += pageSize
          }
          cache.finishOverwrites(run)
          continue
        }
      }
      // A page written in part (read first), or one another thread is reading.
      let length = min(pageSize - inPage, buffer.count - done)
      let whole = length == pageSize
      let (entry, mustFinish, _) = try cache.getEntry(
        .page(self), index: index, size: pageSize, forOverwrite: whole
      ) { (page) throws(Errno) in try operations.readFolio(self, index: index, into: page) }
      entry.dataLock.withLock {
        (entry.data + inPage).copyMemory(from: base + done, byteCount: length)
      }
      if mustFinish { cache.finishOverwrite(entry) } else { cache.markDirtyAndUnpin(entry) }
      done += length
    }
  }

  /// Writes back the file's dirty pages, waits for writeback in flight, and
  /// flushes ``device`` (filemap_write_and_wait() + blkdev_issue_flush(), as
  /// fsync does). Throws EIO when a write failed, now or in a writeback since
  /// the last sync (reported once, like errseq_t); the pages that failed stay dirty.
  public func sync() throws(Errno) {
    try cache.syncOwner(
      entries: { pages.values },
      takeError: {
        defer { writebackError = nil }
        return writebackError
      }, device: device)
  }

  /// Writes back the file's dirty pages and waits for them, without the
  /// device flush (filemap_write_and_wait() alone, as writeback before
  /// reclaim does). Returns whether every page was written and no earlier
  /// writeback failed; an error stays recorded for the next ``sync()``.
  public func writeDirtyPages() -> Bool {
    do {
      try cache.syncOwner(entries: { pages.values }, takeError: { writebackError }, device: nil)
      return true
    } catch {
      return false
    }
  }

  /// Drops the pages that lie wholly at or past `offset`, dirty or not, and
  /// zeroes the rest of the page that holds `offset`
  /// (truncate_inode_pages(mapping, offset)). Waits for reads and writebacks
  /// of those pages in flight first. `truncate(from: 0)` empties the mapping
  /// (truncate_inode_pages_final() at evict_inode).
  public func truncate(from offset: UInt64) {
    let pageSize = UInt64(PageCache.pageSize)
    let partialIndex = offset / pageSize
    let firstDropped = offset % pageSize == 0 ? partialIndex : partialIndex + 1
    let partial = cache.lock.withLock { () -> CacheEntry? in
      while pages.values.contains(where: {
        $0.index >= partialIndex && ($0.locked || $0.underWriteback)
      }) {
        cache.lock.wait()
      }
      for entry in pages.values where entry.index >= firstDropped {
        cache.detachLocked(entry)
      }
      guard offset % pageSize != 0, let entry = pages[partialIndex] else { return nil }
      entry.pins += 1
      return entry
    }
    guard let partial else { return }
    let from = Int(offset % pageSize)
    partial.dataLock.withLock { _ = memset(partial.data + from, 0, partial.size - from) }
    cache.unpin(partial)
  }

  /// Drops the file's clean pages that nobody uses (not being read, not
  /// under writeback, not pinned) and returns whether none is left, as
  /// invalidate_mapping_pages() does for the inode shrinker: a dirty page
  /// keeps its inode.
  public func invalidateCleanPages() -> Bool {
    cache.lock.withLock {
      let idle = pages.values.filter {
        !$0.dirty && !$0.locked && !$0.underWriteback && $0.pins == 0
      }
      for entry in idle { cache.detachLocked(entry) }
      return pages.count == 0
    }
  }

  /// The pages cached now.
  public var cachedPageCount: Int { cache.lock.withLock { pages.count } }

  /// The dirty pages now.
  public var dirtyPageCount: Int { cache.lock.withLock { pages.values.count { $0.dirty } } }

  /// The state of page `index`, or nil if it is not cached (for tests and /proc).
  public func state(ofPage index: UInt64) -> PageState? {
    cache.lock.withLock {
      guard let entry = pages[index] else { return nil }
      return entry.state
    }
  }
}

extension PageCache {
  /// For a direct read: pins and returns the cached pages of `mapping`
  /// among `index..<index + count` (touched and counted as hits), nil where
  /// a page is not cached; or nil, pinning nothing, if one of them is being
  /// read or is not up to date.
  func pinCachedPages(_ mapping: AddressSpace, index: UInt64, count: Int) -> [CacheEntry?]? {
    lock.withLock { () -> [CacheEntry?]? in
      var found = [CacheEntry?](repeating: nil, count: count)
      var hits: UInt64 = 0
      for i in 0..<count {
        guard let entry = mapping.pages[index + UInt64(i)] else { continue }
        guard entry.uptodate, !entry.locked else {
          for pinned in found { pinned?.pins -= 1 }
          return nil
        }
        entry.pins += 1
        touchLocked(entry)
        found[i] = entry
        hits += 1
      }
      counters.hits += hits
      return found
    }
  }

  /// Returns pinned, up-to-date pages of `mapping` from `index` on, at least
  /// one: the cached page at `index` (waiting for a read of it in flight), or,
  /// when it is missing, the run of missing pages from it, at most `maxCount`,
  /// read with one readFolios call (page_cache_ra_unbounded(): the pages are
  /// added locked, so other readers wait for them as for a single miss, then
  /// read_pages()). A failed read detaches all of the run's pages, wakes
  /// their waiters and throws. `inserted` says whether pages were added.
  func getPages(_ mapping: AddressSpace, index: UInt64, maxCount: Int) throws(Errno)
    -> (entries: [CacheEntry], inserted: Bool)
  {
    let size = PageCache.pageSize
    var hook: (@Sendable (PageCacheTraceEvent) -> Void)?
    // How many pages from `index` are missing now; their entries (a page
    // from the pool each) are made outside the lock, which every reader and
    // writer of every file takes: a page and an object cost more than the
    // insertion.
    let wanted = lock.withLock { () -> Int in
      var count = 0
      while count < maxCount, mapping.pages[index + UInt64(count)] == nil { count += 1 }
      return count
    }
    var made: [CacheEntry] = []
    if wanted > 0 {
      // Not zeroed: the run's read fills each page whole (a lone page is
      // zeroed below before its readFolio).
      made.reserveCapacity(wanted)
      for i in 0..<wanted {
        made.append(
          CacheEntry(owner: .page(mapping), index: index + UInt64(i), size: size, zeroed: false))
      }
    }
    // Those still missing go in, locked, up to the first page another thread
    // added meanwhile.
    let run =
      made.isEmpty
      ? []
      : lock.withLock { () -> [CacheEntry] in
        var run: [CacheEntry] = []
        run.reserveCapacity(made.count)
        for entry in made {
          guard mapping.pages[entry.index] == nil else { break }
          entry.locked = true
          entry.pins = 1
          insertLocked(entry)
          run.append(entry)
        }
        counters.misses += UInt64(run.count)
        if !run.isEmpty { hook = traceHookStorage }
        return run
      }
    guard let first = run.first else {
      // Cached (or being read by another thread): the single-page path waits and pins.
      let (entry, _, inserted) = try getEntry(.page(mapping), index: index, size: size) {
        (page) throws(Errno) in try mapping.operations.readFolio(mapping, index: index, into: page)
      }
      return ([entry], inserted)
    }
    if let hook { for entry in run { hook(.pageMiss(ino: mapping.ino, page: entry.index)) } }
    do throws(Errno) {
      if run.count == 1 {
        memset(first.data, 0, size)
        try CacheIOContext.run { () throws(Errno) in
          try mapping.operations.readFolio(mapping, index: index, into: first.bytes)
        }
      } else if mapping.operations.takesScatteredPages {
        // Straight into the pages: one scattered bio per run of blocks.
        let pages = run.map(\.bytes)
        try CacheIOContext.run { () throws(Errno) in
          try mapping.operations.readFolios(mapping, index: index, intoPages: pages)
        }
      } else {
        // The pages' bytes are apart; the run is read into one buffer and
        // copied (aligned for an image opened O_DIRECT).
        guard let whole = ThreadBuffer.readahead.take() else { throw .ENOMEM }
        defer { ThreadBuffer.readahead.give(whole) }
        let pages = UnsafeMutableRawBufferPointer(rebasing: whole[0..<run.count * size])
        try CacheIOContext.run { () throws(Errno) in
          try mapping.operations.readFolios(mapping, index: index, count: run.count, into: pages)
        }
        for (i, entry) in run.enumerated() {
          entry.bytes.copyMemory(
            from: UnsafeRawBufferPointer(rebasing: pages[i * size..<(i + 1) * size]))
        }
      }
    } catch {
      lock.withLock {
        for entry in run {
          detachLocked(entry)
          entry.locked = false
          entry.pins -= 1
        }
        lock.wakeAll()
      }
      throw error
    }
    lock.withLock {
      for entry in run {
        // folio_mark_uptodate() + folio_unlock() for each page of the run.
        entry.uptodate = true
        entry.locked = false
        counters.pagesRead += 1
        counters.bytesRead += UInt64(size)
      }
      lock.wakeAll()
    }
    return (run, true)
  }
}

extension PageCache {
  /// Returns pinned pages `index..<index + n` of `mapping` for a caller that
  /// overwrites each whole, `n` at most `maxCount`: the cached ones
  /// (touched, as getEntry(forOverwrite:) touches them) and new ones added
  /// locked and not up to date, which ``finishOverwrites(_:)`` completes.
  /// Stops before the first page that is being read or is not up to date
  /// (the caller takes the getEntry path for it), so the run may be empty.
  /// No miss is counted nor traced for an overwrite, as in getEntry.
  func getPagesForOverwrite(_ mapping: AddressSpace, index: UInt64, maxCount: Int)
    -> [CacheEntry]
  {
    let size = PageCache.pageSize
    // The new entries are made outside the lock (their pages need not be
    // zeroed: the caller fills each whole before anyone sees it).
    let missing = lock.withLock { () -> Int in
      var count = 0
      for i in 0..<maxCount where mapping.pages[index + UInt64(i)] == nil { count += 1 }
      return count
    }
    var made: [CacheEntry] = []
    made.reserveCapacity(missing)
    for _ in 0..<missing {
      made.append(CacheEntry(owner: .page(mapping), index: 0, size: size, zeroed: false))
    }
    var spare = made.makeIterator()
    return lock.withLock { () -> [CacheEntry] in
      var run: [CacheEntry] = []
      run.reserveCapacity(maxCount)
      for i in 0..<maxCount {
        let pageIndex = index + UInt64(i)
        if let entry = mapping.pages[pageIndex] {
          guard !entry.locked, entry.uptodate else { break }
          entry.pins += 1
          touchLocked(entry)
          run.append(entry)
        } else {
          guard let entry = spare.next() else { break }
          entry.index = pageIndex
          entry.locked = true
          entry.pins = 1
          insertLocked(entry)
          run.append(entry)
        }
      }
      return run
    }
  }

  /// Ends the overwrites of `entries` from ``getPagesForOverwrite(_:index:maxCount:)``:
  /// each is up to date, dirty (unless truncated meanwhile), unlocked and
  /// unpinned, under one taking of the lock (finishOverwrite for each).
  func finishOverwrites(_ entries: [CacheEntry]) {
    let now = clock()
    lock.withLock {
      var unlocked = false
      for entry in entries {
        if entry.locked {
          entry.uptodate = true
          entry.locked = false
          unlocked = true
        }
        markDirtyLocked(entry, now: now)
        entry.pins -= 1
      }
      if unlocked { lock.wakeAll() }
    }
  }
}

/// Memory kept per thread between reads, one buffer per use: a fresh
/// allocation of hundreds of KiB costs an mmap and a page fault per page
/// (glibc maps large blocks and unmaps them at free).
struct ThreadBuffer: Sendable {
  /// One readahead window (256 KiB), for a run of missing pages.
  static let readahead = ThreadBuffer(bytes: AddressSpace.readaheadPages * PageCache.pageSize)
  /// FUSE's largest READ (1 MiB), for a direct read's missing pages.
  static let directRead = ThreadBuffer(bytes: AddressSpace.overwriteRunPages * PageCache.pageSize)

  /// The size of each buffer.
  let bytes: Int
  private let key: pthread_key_t

  private init(bytes: Int) {
    self.bytes = bytes
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    self.key = key
  }

  /// The calling thread's buffer, taken out of its slot (a nested use, if a
  /// file system's readFolios ever reads another file's pages, makes its own).
  /// Nil when memory is short.
  func take() -> UnsafeMutableRawBufferPointer? {
    if let kept = pthread_getspecific(key) {
      pthread_setspecific(key, nil)
      return UnsafeMutableRawBufferPointer(start: kept, count: bytes)
    }
    var memory: UnsafeMutableRawPointer?
    guard posix_memalign(&memory, PagePool.pageSize, bytes) == 0, let memory else { return nil }
    return UnsafeMutableRawBufferPointer(start: memory, count: bytes)
  }

  /// Puts `buffer` back in the thread's slot, or frees it if the slot is full.
  func give(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    if pthread_getspecific(key) == nil {
      pthread_setspecific(key, base)
    } else {
      free(base)
    }
  }
}

extension CacheEntry {
  /// The state bits as a PageState (the lock held).
  var state: PageState {
    var state: PageState = []
    if uptodate { state.insert(.uptodate) }
    if dirty { state.insert(.dirty) }
    if underWriteback { state.insert(.writeback) }
    if locked { state.insert(.locked) }
    return state
  }
}
