// A RAM disk, like drivers/block/brd.c: the medium is memory, kept in pages
// that are allocated on the first write to them (brd_insert_page()); a read
// of a page never written returns zeros without allocating (brd_do_bvec()
// zero-fills). For tests, and for a scratch disk that costs only what was
// written.
//
// Locking: `lock` guards `pages` and the bytes in them; every transfer
// holds it for its whole length, so a bio is atomic against other bios.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A RAM disk backend (brd): pages allocated on first write, holes read as zeros.
public final class RamDisk: BlockDriver, @unchecked Sendable {
  /// The size of one page of the medium (PAGE_SIZE).
  public static let pageSize = 4096

  /// The disk's size in bytes (brd's rd_size, in bytes).
  public let sizeInBytes: UInt64

  private let lock = Lock()
  private var pages: [UInt64: UnsafeMutableRawPointer] = [:]

  /// A RAM disk of `sizeInBytes` bytes, no page allocated yet. The size is
  /// rounded down to whole 512-byte sectors.
  public init(sizeInBytes: UInt64) {
    self.sizeInBytes = sizeInBytes / UInt64(BlockDevice.sectorSize) * UInt64(BlockDevice.sectorSize)
  }

  deinit {
    for page in pages.values { free(page) }  // calloc()ed in write
  }

  /// Pages allocated so far: those written at least once (brd's nr_pages).
  public var allocatedPages: Int { lock.withLock { pages.count } }

  /// Copies each page's part of the range; a missing page reads as zeros.
  public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress else { return }
    lock.withLock {
      forEachPage(offset: offset, count: buffer.count) { index, inPage, done, length in
        if let page = pages[index] {
          (base + done).copyMemory(from: page + inPage, byteCount: length)
        } else {
          memset(base + done, 0, length)
        }
      }
    }
  }

  /// Copies into each page of the range, allocating a zeroed page on first write.
  public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress else { return }
    try lock.withLock { () throws(Errno) in
      // Allocate first (brd_insert_page()), so that a failed allocation
      // leaves the medium as it was. Freed by deinit, with free() as
      // calloc() wants.
      var fresh: [UInt64: UnsafeMutableRawPointer] = [:]
      var failed = false
      forEachPage(offset: offset, count: buffer.count) { index, _, _, _ in
        guard !failed, pages[index] == nil, fresh[index] == nil else { return }
        if let page = calloc(1, RamDisk.pageSize) { fresh[index] = page } else { failed = true }
      }
      if failed {
        for page in fresh.values { free(page) }
        throw .ENOMEM
      }
      pages.merge(fresh) { old, _ in old }
      forEachPage(offset: offset, count: buffer.count) { index, inPage, done, length in
        if let page = pages[index] {  // always: allocated above
          (page + inPage).copyMemory(from: base + done, byteCount: length)
        }
      }
    }
  }

  /// Nothing to make durable: memory is the medium.
  public func flush() throws(Errno) {}

  /// Calls `body(page index, offset in page, bytes done so far, length)` for
  /// each page the byte range touches, in order.
  private func forEachPage(
    offset: UInt64, count: Int, _ body: (UInt64, Int, Int, Int) -> Void
  ) {
    var done = 0
    while done < count {
      let position = offset + UInt64(done)
      let index = position / UInt64(RamDisk.pageSize)
      let inPage = Int(position % UInt64(RamDisk.pageSize))
      let length = min(RamDisk.pageSize - inPage, count - done)
      body(index, inPage, done, length)
      done += length
    }
  }
}
