// Where the page cache's pages come from, like the kernel's page allocator
// (alloc_page()/__free_page()): 4 KiB pages carved from 2 MiB chunks taken
// from the system with mmap, and a free list. Asking malloc for a 4 KiB
// block aligned to 4 KiB costs nearly two pages of resident memory each
// (the alignment gap is handed to other small allocations, which touch it):
// with a 64 MiB cache the daemon held 157 MiB. Pages taken from chunks cost
// one page each.
//
// Chunks are kept for the life of the process: pages dropped from the
// cache (eviction, drop_caches) go back to the free list, not to the
// system, so the resident size stays at the most pages the cache has held
// at once (rounded up to a whole chunk: chunks are mapped pre-faulted),
// which its bound limits. Freed pages are handed out again first (LIFO),
// so a page reused is one already resident. A page handed out with a lock
// for its bytes (a cache entry's data lock) gets that lock back with it
// when freed, so a cache that turns its pages over (a large sequential
// read or write) allocates and frees no mutex per page.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A pool of page-sized, page-aligned buffers (PAGE_SIZE = 4096).
final class PagePool: @unchecked Sendable {
  /// The pool the page cache uses.
  static let shared = PagePool()
  /// The size and alignment of a page.
  static let pageSize = 4096
  /// Pages carved from one mmap.
  static let pagesPerChunk = 512

  private let lock = Lock()
  /// Free pages, each with the lock it was freed with, if any; guarded by `lock`.
  private var free: [(page: UnsafeMutableRawPointer, dataLock: Lock?)] = []

  /// A page, its bytes undefined. Falls back to an aligned malloc if the
  /// system refuses a new chunk (that page then stays in the pool too).
  func allocate() -> UnsafeMutableRawPointer {
    if let page = lock.withLock({ free.popLast()?.page }) { return page }
    return allocateChunk()
  }

  /// A page, its bytes undefined, and an unlocked lock for them: the one it
  /// was last freed with, or a new one.
  func allocateWithLock() -> (page: UnsafeMutableRawPointer, dataLock: Lock) {
    if let (page, kept) = lock.withLock({ free.popLast() }) { return (page, kept ?? Lock()) }
    return (allocateChunk(), Lock())
  }

  /// Maps a new chunk, keeps all its pages but the first free, and returns the first.
  private func allocateChunk() -> UnsafeMutableRawPointer {
    let bytes = PagePool.pageSize * PagePool.pagesPerChunk
    // MAP_POPULATE: the chunk's pages are faulted in by this one call (the
    // kernel zeroes them in a batch) rather than by one page fault each at
    // first touch, which a new buffer otherwise takes inside a request.
    guard
      let chunk = mmap(
        nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0),
      chunk != MAP_FAILED
    else {
      return UnsafeMutableRawPointer.allocate(
        byteCount: PagePool.pageSize, alignment: PagePool.pageSize)
    }
    let first = chunk
    lock.withLock {
      for i in stride(from: PagePool.pagesPerChunk - 1, through: 1, by: -1) {
        free.append((first + i * PagePool.pageSize, nil))
      }
    }
    return first
  }

  /// Gives a page from `allocate()` back.
  func release(_ page: UnsafeMutableRawPointer) {
    lock.withLock { free.append((page, nil)) }
  }

  /// Gives back a page from `allocateWithLock()` with its lock, which no
  /// one may hold or use any more.
  func release(_ page: UnsafeMutableRawPointer, dataLock: Lock) {
    lock.withLock { free.append((page, dataLock)) }
  }
}
