// One cached unit of the page cache: a file page of an `AddressSpace` or a
// block buffer of a `BufferCache`, with the state bits the kernel keeps in
// `struct folio`'s flags (PG_uptodate, PG_dirty, PG_writeback, PG_locked) and
// in `struct buffer_head`'s b_state (BH_Uptodate, BH_Dirty, ...).
//
// Locking: every field but `data` is guarded by the cache's `CacheLock`.
// The bytes at `data` are guarded by `dataLock`, which is taken only with the
// cache lock NOT held (lock order: never cache lock -> data lock), so a copy
// in or out never blocks the cache, and a file system's closure that runs
// under `dataLock` may call back into the cache. While `locked` is set (a
// read from disk is filling a fresh entry) nobody but the reader touches the
// bytes. An entry with `pins > 0`, `locked` or `underWriteback` is never
// dropped by eviction.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A page or a buffer in the cache (the state of struct folio / struct buffer_head).
final class CacheEntry: @unchecked Sendable {
  /// Who the entry belongs to, and where its bytes go on writeback.
  enum Owner {
    /// Page `index` of a file's address space.
    case page(AddressSpace)
    /// Block `index` of a block device's buffer cache.
    case buffer(BufferCache)
  }

  let owner: Owner
  /// The page index in the file, or the block number on the device (set
  /// once, before the entry is first attached).
  var index: UInt64
  /// Bytes: PageCache.pageSize for a page, the block size for a buffer.
  let size: Int
  /// The bytes, page-aligned (an image opened O_DIRECT then needs no bounce).
  let data: UnsafeMutableRawPointer
  /// Guards the bytes at `data` (like lock_buffer() / the folio lock for
  /// data); a page's comes from the pool with the page and goes back with it.
  let dataLock: Lock

  /// PG_uptodate / BH_Uptodate: the bytes are valid.
  var uptodate = false
  /// PG_dirty / BH_Dirty: the bytes differ from the disk.
  var dirty = false
  /// PG_writeback: a write of the bytes is in flight.
  var underWriteback = false
  /// PG_locked during a read from disk: others wait (folio_wait_locked()).
  var locked = false
  /// References held by users (a BufferHead, a copy in progress): like the folio refcount.
  var pins = 0
  /// When the entry went from clean to dirty (the cache's clock), for dirty_expire.
  var dirtiedAt: Double = 0
  /// Whether the entry is still in its owner's map and the LRU (false once dropped).
  var attached = true
  /// LRU links (the kernel's lru list_head); `prev` is toward the hot end.
  /// Not counted references: an entry is in the LRU only while its owner's
  /// map holds it (see PageCache), so a link never outlives its target,
  /// and linking and unlinking cost no reference counting.
  unowned(unsafe) var lruPrev: CacheEntry?
  unowned(unsafe) var lruNext: CacheEntry?

  /// `zeroed: false` leaves the bytes as the pool gives them, for a caller
  /// that fills every byte before anyone reads them (a page-run read).
  init(owner: Owner, index: UInt64, size: Int, zeroed: Bool = true) {
    self.owner = owner
    self.index = index
    self.size = size
    // Pages from the pool (one resident page each); smaller block buffers
    // from malloc, aligned to their size (512 B to 2 KiB: direct I/O asks
    // for the device's logical block alignment).
    if size == PagePool.pageSize {
      (data, dataLock) = PagePool.shared.allocateWithLock()
    } else {
      data = UnsafeMutableRawPointer.allocate(
        byteCount: size, alignment: min(size, PagePool.pageSize))
      dataLock = Lock()
    }
    if zeroed { memset(data, 0, size) }
  }

  deinit {
    if size == PagePool.pageSize {
      // Nobody holds the lock: whoever takes it holds the entry.
      PagePool.shared.release(data, dataLock: dataLock)
    } else {
      data.deallocate()
    }
  }

  /// Whether eviction may drop the entry now: clean, idle and unreferenced.
  var isReclaimable: Bool { !dirty && !underWriteback && !locked && pins == 0 }

  /// The bytes, for the whole entry.
  var bytes: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: data, count: size)
  }
}

/// A per-thread flag: set while a thread runs a file system's readFolio or
/// writepage for the cache (like PF_MEMALLOC), so that the cache, entered
/// again from inside, drops only clean entries and never starts writeback
/// recursively.
enum CacheIOContext {
  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// Whether the calling thread is inside a cache I/O callback.
  static var isActive: Bool { pthread_getspecific(key) != nil }

  /// Runs `body` with the flag set on this thread (nesting keeps it set).
  static func run<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    let previous = pthread_getspecific(key)
    pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
    defer { pthread_setspecific(key, previous) }
    return try body()
  }
}
