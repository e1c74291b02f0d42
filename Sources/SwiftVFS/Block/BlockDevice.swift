// A block device, like the kernel's `struct gendisk` with its whole-disk
// `struct block_device` (include/linux/blkdev.h): a name, a device number, a
// capacity in 512-byte sectors, a logical block size, a read-only flag, and
// the entry point for I/O, `submitBio` (like submit_bio()).
//
// Invariant: a bio reaches the driver only after the checks of
// submit_bio_noacct() passed; a refused bio changes neither the medium nor
// the counters. Locking: `lock` guards `stats` and `readOnly`; the driver
// runs without it (it has its own lock where it needs one).

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// A block device (struct gendisk + struct block_device): fixed-size sectors over a driver.
public final class BlockDevice: @unchecked Sendable {
  /// The unit of addressing, 512 bytes (SECTOR_SIZE), whatever the logical block size.
  public static let sectorSize = 512

  /// The disk's name, as /proc/partitions shows it ("ram0", "loop0").
  public let name: String
  /// Its device number (disk_devt()).
  public let dev: DevT
  /// The capacity in 512-byte sectors (get_capacity()), a multiple of the logical block.
  public let sizeInSectors: UInt64
  /// The smallest unit the device addresses (queue_logical_block_size()):
  /// every bio's start and length are multiples of it.
  public let logicalBlockSize: Int
  /// The driver that moves the data.
  public let driver: BlockDriver

  private let lock = Lock()
  private var _readOnly: Bool
  private var _stats = BlockDeviceStats()

  /// A device named `name` with number `dev` over `driver`.
  ///
  /// Its capacity is the driver's size rounded down to a whole logical block;
  /// it is read-only if `readOnly` or if the driver's medium is.
  /// `logicalBlockSize` must be a power of two from 512 to 65,536 (as
  /// blk_validate_block_size() requires), else EINVAL.
  public init(
    name: String, dev: DevT, driver: BlockDriver, logicalBlockSize: Int = 512,
    readOnly: Bool = false
  ) throws(Errno) {
    guard logicalBlockSize >= 512, logicalBlockSize <= 65536,
      logicalBlockSize & (logicalBlockSize - 1) == 0
    else { throw .EINVAL }
    guard !name.isEmpty, !name.contains("/"), !name.contains(" "), !name.contains("\n") else {
      throw .EINVAL
    }
    self.name = name
    self.dev = dev
    self.driver = driver
    self.logicalBlockSize = logicalBlockSize
    let blocks = driver.sizeInBytes / UInt64(logicalBlockSize)
    sizeInSectors = blocks * UInt64(logicalBlockSize / BlockDevice.sectorSize)
    _readOnly = readOnly || driver.mediumIsReadOnly
  }

  /// The capacity in bytes (bdev_nr_bytes()).
  public var sizeInBytes: UInt64 { sizeInSectors * UInt64(BlockDevice.sectorSize) }

  /// Whether writes are refused (bdev_read_only(); set_disk_ro() / BLKROSET change it).
  public var readOnly: Bool {
    get { lock.withLock { _readOnly } }
    set { lock.withLock { _readOnly = newValue } }
  }

  /// A copy of the counters (/sys/block/X/stat).
  public var stats: BlockDeviceStats { lock.withLock { _stats } }

  /// Submits `bio` and completes it before returning (submit_bio() +
  /// submit_bio_wait()): the bytes moved, or an errno.
  ///
  /// The checks, in the order a write(2) on a block device meets them:
  /// - a WRITE to a read-only device is EPERM. Linux's bio_check_ro() only
  ///   warns ("Trying to write to read-only block-device") and lets the bio
  ///   through, for old lvm tools; the answer a program sees is the one of
  ///   blkdev_write_iter(), EPERM, for write(2) on a read-only block device.
  ///   Here the bio is refused, so a read-only image is never written. A
  ///   FLUSH is allowed, as bio_check_ro() lets an empty flush pass.
  /// - a start or length that is not a multiple of the logical block size is
  ///   EINVAL (as blkdev_dio_invalid() answers for misaligned direct I/O,
  ///   before any bio exists), and so is a READ or WRITE without data, a
  ///   segment of a scattered bio that is empty or not whole logical blocks,
  ///   or a FLUSH with data;
  /// - a bio that ends past the capacity is EIO (bio_check_eod(): "attempt to
  ///   access beyond end of device"), with no partial transfer.
  @discardableResult
  public func submitBio(_ bio: Bio) throws(Errno) -> Int {
    let length = bio.byteCount
    switch bio.operation {
    case .flush:
      guard length == 0, bio.segments.isEmpty else { throw .EINVAL }
      try driver.flush()
      lock.withLock { _stats.flushesCompleted += 1 }
      return 0
    case .read, .write:
      if bio.operation == .write, readOnly { throw .EPERM }  // like blkdev_write_iter()
      if bio.segments.isEmpty {
        guard length > 0, bio.buffer.baseAddress != nil else { throw .EINVAL }
      } else {
        // Each segment whole logical blocks, as a direct-I/O iovec must be.
        for segment in bio.segments {
          guard segment.count > 0, segment.baseAddress != nil,
            segment.count % logicalBlockSize == 0
          else { throw .EINVAL }
        }
      }
      let sectorsPerBlock = UInt64(logicalBlockSize / BlockDevice.sectorSize)
      guard length % logicalBlockSize == 0, bio.sector % sectorsPerBlock == 0 else {
        throw .EINVAL
      }
      let sectors = UInt64(length) / UInt64(BlockDevice.sectorSize)
      // bio_check_eod(): compare without overflow (a huge start sector is EIO too).
      guard bio.sector <= sizeInSectors, sectors <= sizeInSectors - bio.sector else {
        throw .EIO
      }
      let offset = bio.sector * UInt64(BlockDevice.sectorSize)
      if bio.operation == .read {
        if bio.segments.isEmpty {
          try driver.read(at: offset, into: bio.buffer)
        } else {
          try driver.read(at: offset, intoSegments: bio.segments)
        }
        lock.withLock {
          _stats.readsCompleted += 1
          _stats.sectorsRead += sectors
        }
      } else {
        if bio.segments.isEmpty {
          try driver.write(at: offset, from: UnsafeRawBufferPointer(bio.buffer))
        } else {
          try driver.write(
            at: offset, fromSegments: bio.segments.map { UnsafeRawBufferPointer($0) })
        }
        lock.withLock {
          _stats.writesCompleted += 1
          _stats.sectorsWritten += sectors
        }
      }
      return length
    }
  }

  /// Reads `buffer.count` bytes from `sector` (a READ bio); returns the bytes read.
  @discardableResult
  public func read(sector: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int
  {
    try submitBio(.read(sector: sector, into: buffer))
  }

  /// Writes `buffer` at `sector` (a WRITE bio); returns the bytes written.
  @discardableResult
  public func write(sector: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
    try submitBio(.write(sector: sector, from: buffer))
  }

  /// Makes everything written so far durable (an empty FLUSH bio, like blkdev_issue_flush()).
  public func flush() throws(Errno) {
    try submitBio(.flush)
  }
}
