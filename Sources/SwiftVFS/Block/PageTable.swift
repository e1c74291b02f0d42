// The index of a file's cached pages, like the kernel's `i_pages` xarray
// (include/linux/xarray.h) reduced to one level: pages in groups of 64
// (a chunk, like an xa_node's 64 slots), chunks found by a dictionary, and
// the last chunk used remembered (like an xa_state walking on). A run of
// consecutive pages, as readahead, a large write and LRU eviction touch
// them, then costs one dictionary lookup per 64 pages, not one hash and
// probe per page, and its slots lie together in memory.
//
// Locking: none of its own; the page cache's lock guards it (see
// PageCache.swift), so the remembered chunk needs no more.

import SwiftVFSCore

/// The cached pages of an address space by index (the i_pages xarray).
final class PageTable: @unchecked Sendable {
  /// Pages per chunk (XA_CHUNK_SIZE).
  static let chunkPages = 64
  private static let chunkShift: UInt64 = 6

  /// 64 slots and how many are in use.
  private final class Chunk {
    let slots: UnsafeMutablePointer<CacheEntry?>
    var used = 0

    init() {
      slots = .allocate(capacity: PageTable.chunkPages)
      slots.initialize(repeating: nil, count: PageTable.chunkPages)
    }

    deinit {
      slots.deinitialize(count: PageTable.chunkPages)
      slots.deallocate()
    }
  }

  private var chunks: [UInt64: Chunk] = [:]
  private var lastKey = UInt64.max
  private var lastChunk: Chunk?
  /// The pages held.
  private(set) var count = 0

  /// The chunk for `key`, if any, remembered for the next call.
  private func chunk(_ key: UInt64) -> Chunk? {
    if key == lastKey, let lastChunk { return lastChunk }
    guard let found = chunks[key] else { return nil }
    lastKey = key
    lastChunk = found
    return found
  }

  /// The page at `index`, or nil; setting nil removes it.
  subscript(index: UInt64) -> CacheEntry? {
    get {
      chunk(index >> PageTable.chunkShift)?.slots[Int(index & UInt64(PageTable.chunkPages - 1))]
    }
    set {
      let key = index >> PageTable.chunkShift
      let slot = Int(index & UInt64(PageTable.chunkPages - 1))
      if let newValue {
        let target: Chunk
        if let existing = chunk(key) {
          target = existing
        } else {
          target = Chunk()
          chunks[key] = target
          lastKey = key
          lastChunk = target
        }
        if target.slots[slot] == nil {
          target.used += 1
          count += 1
        }
        target.slots[slot] = newValue
      } else {
        guard let target = chunk(key), target.slots[slot] != nil else { return }
        target.slots[slot] = nil
        target.used -= 1
        count -= 1
        if target.used == 0 {
          chunks[key] = nil
          lastKey = UInt64.max
          lastChunk = nil
        }
      }
    }
  }

  /// Every page held, in no particular order (a copy: the table may change
  /// while the caller goes through it).
  var values: [CacheEntry] {
    var all: [CacheEntry] = []
    all.reserveCapacity(count)
    for chunk in chunks.values {
      for slot in 0..<PageTable.chunkPages {
        if let entry = chunk.slots[slot] { all.append(entry) }
      }
    }
    return all
  }
}
