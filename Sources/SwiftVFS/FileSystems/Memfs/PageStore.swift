import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A regular file's data: fixed-size pages in a sparse map (the page cache of
/// a tmpfs inode). A page that was never written, or was punched out, is a
/// hole: it costs nothing and reads as zeros. So a 1 TiB truncate holds no
/// memory, and SEEK_DATA/SEEK_HOLE follow from which pages exist.
///
/// Every page held is one block reserved in the superblock (`size=` limit).
/// Locking: callers hold the owning inode's lock.
final class PageStore {
  static let pageSize = 4096
  /// Pages freed at once (16 MiB) after which the heap is trimmed.
  static let trimThreshold: UInt64 = 4096
  static let pageShift: Int64 = 12

  private(set) var pages: [Int64: UnsafeMutableRawPointer] = [:]

  var pageCount: Int { pages.count }

  deinit {
    for page in pages.values { free(page) }
  }

  /// Copies `[offset, offset + buffer.count)` clipped to `size` into `buffer`;
  /// holes read as zeros. Returns the bytes copied.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, size: Int64) -> Int {
    guard offset < size, let base = buffer.baseAddress else { return 0 }
    let count = Int(min(Int64(buffer.count), size - offset))
    var done = 0
    while done < count {
      let pos = offset + Int64(done)
      let index = pos >> PageStore.pageShift
      let inPage = Int(pos & Int64(PageStore.pageSize - 1))
      let n = min(PageStore.pageSize - inPage, count - done)
      if let page = pages[index] {
        memcpy(base + done, page + inPage, n)
      } else {
        memset(base + done, 0, n)
      }
      done += n
    }
    return count
  }

  /// Calls `body` with the stored bytes of `[offset, offset + count)` clipped
  /// to `size`, as a list of slices of the pages themselves (holes as slices
  /// of a shared zero page), so the bridge can reply without copying.
  /// Caller holds the inode's lock for as long as the slices are used.
  func withSlices<R>(
    at offset: Int64, count: Int, size: Int64, _ body: ([UnsafeRawBufferPointer]) -> R
  ) -> R {
    guard offset < size else { return body([]) }
    let total = Int(min(Int64(count), size - offset))
    var slices: [UnsafeRawBufferPointer] = []
    slices.reserveCapacity(total / PageStore.pageSize + 2)
    var done = 0
    while done < total {
      let pos = offset + Int64(done)
      let inPage = Int(pos & Int64(PageStore.pageSize - 1))
      let n = min(PageStore.pageSize - inPage, total - done)
      let base =
        pages[pos >> PageStore.pageShift].map { UnsafeRawPointer($0) } ?? PageStore.zeroPage
      slices.append(UnsafeRawBufferPointer(start: base + inPage, count: n))
      done += n
    }
    return body(slices)
  }

  /// One page of zeros that every hole reads from.
  nonisolated(unsafe) static let zeroPage = UnsafeRawPointer(calloc(1, pageSize)!)

  /// Writes `buffer` at `offset`, allocating pages as it goes. If the
  /// superblock runs out of space part-way, returns what was written (a short
  /// write, as tmpfs gives), or throws ENOSPC if nothing was.
  func write(from buffer: UnsafeRawBufferPointer, at offset: Int64, sb: SuperBlock) throws(Errno)
    -> Int
  {
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
      let pos = offset + Int64(done)
      let index = pos >> PageStore.pageShift
      let inPage = Int(pos & Int64(PageStore.pageSize - 1))
      let n = min(PageStore.pageSize - inPage, buffer.count - done)
      let page: UnsafeMutableRawPointer
      if let existing = pages[index] {
        page = existing
      } else {
        do {
          // A page written whole needs no zeroing first.
          page = try allocatePage(index, sb: sb, zeroed: n != PageStore.pageSize)
        } catch {
          if done > 0 { return done }
          throw error
        }
      }
      memcpy(page + inPage, base + done, n)
      done += n
    }
    return done
  }

  private func allocatePage(_ index: Int64, sb: SuperBlock, zeroed: Bool) throws(Errno)
    -> UnsafeMutableRawPointer
  {
    try sb.reserveBlocks(1)
    guard let page = zeroed ? calloc(1, PageStore.pageSize) : malloc(PageStore.pageSize) else {
      sb.releaseBlocks(1)
      throw .ENOMEM
    }
    pages[index] = page
    return page
  }

  /// Drops the data past `newSize` and zeroes the tail of the last page, so a
  /// later extension reads zeros there (like truncate_inode_pages_range).
  func truncate(to newSize: Int64, sb: SuperBlock) {
    let firstGone = (newSize + Int64(PageStore.pageSize) - 1) >> PageStore.pageShift
    freePages(from: firstGone, to: Int64.max, sb: sb)
    let tail = Int(newSize & Int64(PageStore.pageSize - 1))
    if tail != 0, let page = pages[newSize >> PageStore.pageShift] {
      memset(page + tail, 0, PageStore.pageSize - tail)
    }
  }

  /// FALLOC_FL_PUNCH_HOLE: whole pages inside the range are freed, partial
  /// ones zeroed.
  func punchHole(offset: Int64, length: Int64, sb: SuperBlock) {
    let end = offset + length
    var pos = offset
    while pos < end {
      let index = pos >> PageStore.pageShift
      let inPage = Int(pos & Int64(PageStore.pageSize - 1))
      let n = Int(min(Int64(PageStore.pageSize - inPage), end - pos))
      if n == PageStore.pageSize {
        // Free a run of whole pages at once.
        let lastWhole = end >> PageStore.pageShift  // exclusive
        freePages(from: index, to: lastWhole, sb: sb)
        pos = lastWhole << PageStore.pageShift
        continue
      }
      if let page = pages[index] { memset(page + inPage, 0, n) }
      pos += Int64(n)
    }
  }

  /// fallocate mode 0 / KEEP_SIZE: every page in the range exists afterwards.
  /// All or nothing: ENOSPC reserves nothing.
  func allocate(offset: Int64, length: Int64, sb: SuperBlock) throws(Errno) {
    let first = offset >> PageStore.pageShift
    let last = (offset + length - 1) >> PageStore.pageShift
    // Reserve first, from a count, so a huge range fails at once (like
    // shmem_fallocate's early ENOSPC) instead of after walking every index.
    let held = Int64(pages.keys.lazy.filter { $0 >= first && $0 <= last }.count)
    let needed = UInt64(last - first + 1 - held)
    guard needed > 0 else { return }
    try sb.reserveBlocks(needed)
    var missing: [Int64] = []
    missing.reserveCapacity(Int(needed))
    for index in first...last where pages[index] == nil { missing.append(index) }
    for index in missing {
      guard let page = calloc(1, PageStore.pageSize) else {
        sb.releaseBlocks(UInt64(missing.count))
        for i in missing where pages[i] != nil {
          free(pages[i])
          pages[i] = nil
        }
        throw .ENOMEM
      }
      pages[index] = page
    }
  }

  /// SEEK_DATA: the first offset at or after `offset` inside a stored page.
  func seekData(from offset: Int64, size: Int64) -> Int64? {
    let index = offset >> PageStore.pageShift
    if pages[index] != nil { return offset }
    guard let next = pages.keys.lazy.filter({ $0 > index }).min() else { return nil }
    let pos = next << PageStore.pageShift
    return pos < size ? pos : nil
  }

  /// SEEK_HOLE: the first offset at or after `offset` inside no stored page,
  /// or `size` (the end of a file is a hole).
  func seekHole(from offset: Int64, size: Int64) -> Int64 {
    var index = offset >> PageStore.pageShift
    while pages[index] != nil { index += 1 }
    return min(max(offset, index << PageStore.pageShift), size)
  }

  func freeAll(sb: SuperBlock) {
    freePages(from: 0, to: Int64.max, sb: sb)
  }

  /// Frees pages with index in [from, to).
  private func freePages(from: Int64, to: Int64, sb: SuperBlock) {
    guard from < to else { return }
    var freed: UInt64 = 0
    if to - from <= Int64(pages.count) {
      for index in from..<to {
        if let page = pages.removeValue(forKey: index) {
          free(page)
          freed += 1
        }
      }
    } else {
      let doomed = pages.keys.filter { $0 >= from && $0 < to }
      for index in doomed {
        if let page = pages.removeValue(forKey: index) {
          free(page)
          freed += 1
        }
      }
    }
    if freed > 0 { sb.releaseBlocks(freed) }
    // Give the memory back to the system after a big free, as tmpfs does:
    // malloc keeps freed chunks in its heap otherwise.
    if freed >= PageStore.trimThreshold { _ = malloc_trim(0) }
  }
}

/// glibc's malloc_trim(3) (in <malloc.h>, which the Glibc module leaves out).
@_silgen_name("malloc_trim")
private func malloc_trim(_ pad: Int) -> Int32
