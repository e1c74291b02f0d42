// A bio: one block I/O request, like the kernel's `struct bio`
// (include/linux/blk_types.h). Built by whoever needs sectors (the page cache,
// later), handed to `BlockDevice.submitBio`, completed before that returns.

import SwiftVFSCore

/// One block I/O request (struct bio): an operation, a start sector and its
/// memory: one buffer, or a list of segments (`struct bio_vec`) when the
/// memory is scattered, as the pages of a readahead run or a writeback run
/// are (the driver then moves them with one preadv/pwritev).
///
/// The memory is borrowed for the call only: `submitBio` completes
/// synchronously, so the caller owns it again when it returns.
/// For a WRITE the device only reads from it.
public struct Bio {
  /// What a bio asks of the device (REQ_OP_READ, REQ_OP_WRITE, REQ_OP_FLUSH).
  public enum Operation: Sendable, Hashable, CustomStringConvertible {
    /// Read sectors into the buffer (REQ_OP_READ).
    case read
    /// Write the buffer to sectors (REQ_OP_WRITE).
    case write
    /// Make written data durable (REQ_OP_FLUSH); carries no data.
    case flush

    /// "READ", "WRITE" or "FLUSH", as blktrace names them.
    public var description: String {
      switch self {
      case .read: "READ"
      case .write: "WRITE"
      case .flush: "FLUSH"
      }
    }
  }

  /// The operation (bio_op()).
  public var operation: Operation
  /// The first 512-byte sector (bi_iter.bi_sector); 0 for a FLUSH.
  public var sector: UInt64
  /// The data: filled by a READ, read by a WRITE, empty for a FLUSH (and
  /// for a bio whose data is in `segments`).
  public var buffer: UnsafeMutableRawBufferPointer
  /// The data of a scattered bio, in device order (bi_io_vec); empty when
  /// the data is `buffer`.
  public var segments: [UnsafeMutableRawBufferPointer]

  /// A bio of `operation` at `sector` over `buffer` (like bio_init()).
  public init(operation: Operation, sector: UInt64, buffer: UnsafeMutableRawBufferPointer) {
    self.operation = operation
    self.sector = sector
    self.buffer = buffer
    self.segments = []
  }

  /// A bio of `operation` at `sector` over `segments`, back to back on the
  /// device (bio_add_page() for each).
  public init(operation: Operation, sector: UInt64, segments: [UnsafeMutableRawBufferPointer]) {
    self.operation = operation
    self.sector = sector
    self.buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    self.segments = segments
  }

  /// A READ of `buffer.count` bytes from `sector` into `buffer`.
  public static func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bio {
    Bio(operation: .read, sector: sector, buffer: buffer)
  }

  /// A WRITE of `buffer` at `sector`; the device only reads the buffer.
  public static func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) -> Bio {
    Bio(operation: .write, sector: sector, buffer: UnsafeMutableRawBufferPointer(mutating: buffer))
  }

  /// A READ of the sectors from `sector` into `segments`, filled in order.
  public static func read(sector: UInt64, intoSegments segments: [UnsafeMutableRawBufferPointer])
    -> Bio
  {
    Bio(operation: .read, sector: sector, segments: segments)
  }

  /// A WRITE of `segments`, back to back, at `sector`; the device only reads them.
  public static func write(sector: UInt64, fromSegments segments: [UnsafeRawBufferPointer]) -> Bio {
    Bio(
      operation: .write, sector: sector,
      segments: segments.map { UnsafeMutableRawBufferPointer(mutating: $0) })
  }

  /// The bytes the bio moves (bi_iter.bi_size): its buffer's, or its segments' together.
  public var byteCount: Int {
    segments.isEmpty ? buffer.count : segments.reduce(0) { $0 + $1.count }
  }

  /// An empty FLUSH (a REQ_PREFLUSH bio without data, as blkdev_issue_flush() sends).
  public static var flush: Bio {
    Bio(operation: .flush, sector: 0, buffer: UnsafeMutableRawBufferPointer(start: nil, count: 0))
  }

  /// The sectors the bio covers (bio_sectors()), rounded up.
  public var sectorCount: UInt64 {
    (UInt64(byteCount) + UInt64(BlockDevice.sectorSize) - 1) / UInt64(BlockDevice.sectorSize)
  }
}
