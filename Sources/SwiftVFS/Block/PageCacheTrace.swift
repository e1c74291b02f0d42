// What the page cache reports to a trace: each bio it submits (like the
// block_bio_queue tracepoint that blktrace shows as "Q") and each miss (like
// mm_filemap_add_to_page_cache). `PageCache.of(vfs)` wires the hook to
// /proc/vfs/trace; the cache only calls it.

/// One event for the trace hook of a ``PageCache``.
public enum PageCacheTraceEvent: Sendable, Equatable {
  /// A bio submitted to `device`: `bytes` bytes from 512-byte sector `sector`.
  case bio(operation: Bio.Operation, device: String, sector: UInt64, bytes: Int)
  /// A file page looked up and not cached: page `page` of inode `ino`.
  case pageMiss(ino: UInt64, page: UInt64)
  /// A block buffer looked up and not cached.
  case bufferMiss(device: String, block: UInt64)

  /// The event as one trace line, without a newline:
  /// `bio READ loop0 sectors 2048..2055 (4096 bytes)`,
  /// `bio FLUSH loop0`, `pagecache miss ino 12 page 3`,
  /// `buffer miss loop0 block 5`.
  public var line: String {
    switch self {
    case .bio(let operation, let device, let sector, let bytes):
      guard bytes > 0 else { return "bio \(operation) \(device)" }
      let sectors =
        (UInt64(bytes) + UInt64(BlockDevice.sectorSize) - 1)
        / UInt64(BlockDevice.sectorSize)
      return
        "bio \(operation) \(device) sectors \(sector)..\(sector + sectors - 1) (\(bytes) bytes)"
    case .pageMiss(let ino, let page):
      return "pagecache miss ino \(ino) page \(page)"
    case .bufferMiss(let device, let block):
      return "buffer miss \(device) block \(block)"
    }
  }
}
