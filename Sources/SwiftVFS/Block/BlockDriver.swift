// What sits below a block device: the driver's side of the request, like
// `struct block_device_operations` and its ->submit_bio of a bio-based driver
// (drivers/block/brd.c, drivers/block/loop.c).

import SwiftVFSCore

/// A block device's backend (block_device_operations with ->submit_bio).
///
/// `BlockDevice.submitBio` checks every bio before it reaches a driver, as
/// submit_bio_noacct() does: a driver only sees READs and WRITEs that lie
/// inside the device, are aligned to its logical block size and carry at
/// least one block, and WRITEs only when the device is writable. A driver
/// moves all the bytes or throws (EIO for a failed transfer).
public protocol BlockDriver: AnyObject, Sendable {
  /// The size the backend offers, in bytes (the device's capacity comes from it).
  var sizeInBytes: UInt64 { get }
  /// Reads `buffer.count` bytes at byte `offset` into `buffer`.
  func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno)
  /// Writes `buffer` at byte `offset`.
  func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno)
  /// Reads the bytes at byte `offset` into `segments`, filling them in
  /// order (a scattered READ: preadv for an image file).
  func read(at offset: UInt64, intoSegments segments: [UnsafeMutableRawBufferPointer])
    throws(Errno)
  /// Writes `segments`, back to back, at byte `offset` (pwritev for an image file).
  func write(at offset: UInt64, fromSegments segments: [UnsafeRawBufferPointer]) throws(Errno)
  /// Makes written data durable (REQ_OP_FLUSH: fsync for an image file).
  func flush() throws(Errno)
  /// Whether the medium itself refuses writes (an image opened read-only,
  /// like loop's LO_FLAGS_READ_ONLY): its device is then read-only from the start.
  var mediumIsReadOnly: Bool { get }
}

extension BlockDriver {
  /// Writable, unless the driver says otherwise.
  public var mediumIsReadOnly: Bool { false }

  /// One ``read(at:into:)`` per segment, unless the driver does better.
  public func read(at offset: UInt64, intoSegments segments: [UnsafeMutableRawBufferPointer])
    throws(Errno)
  {
    try readEachSegment(at: offset, into: segments)
  }

  /// One ``write(at:from:)`` per segment, unless the driver does better.
  public func write(at offset: UInt64, fromSegments segments: [UnsafeRawBufferPointer])
    throws(Errno)
  {
    try writeEachSegment(at: offset, from: segments)
  }

  /// The segments back to back from `offset`, one ``read(at:into:)`` each:
  /// the default, and a driver's fallback when it cannot take them at once.
  func readEachSegment(at offset: UInt64, into segments: [UnsafeMutableRawBufferPointer])
    throws(Errno)
  {
    var position = offset
    for segment in segments {
      try read(at: position, into: segment)
      position += UInt64(segment.count)
    }
  }

  /// The segments back to back from `offset`, one ``write(at:from:)`` each.
  func writeEachSegment(at offset: UInt64, from segments: [UnsafeRawBufferPointer])
    throws(Errno)
  {
    var position = offset
    for segment in segments {
      try write(at: position, from: segment)
      position += UInt64(segment.count)
    }
  }
}
