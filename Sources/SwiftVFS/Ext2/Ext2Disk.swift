// The one place ext2 reads its disk: whole file-system blocks from a
// BlockDevice, like sb_bread() in fs/ext2. Every block number is checked
// against s_blocks_count first, so a pointer read from a damaged image turns
// into EUCLEAN (the kernel's EFSCORRUPTED) instead of a read past the end.
// When the buffer cache lands, `readBlock` is where it goes in.
//
// Locking: none; BlockDevice.submitBio is safe from any thread.

import SwiftVFSBlock
import SwiftVFSCore

/// EFSCORRUPTED, the errno of "EXT2-fs error" (include/linux/jbd2.h: EUCLEAN, 117).
let EFSCORRUPTED = Errno(117)
/// ESTALE (116): ext2_iget()'s answer for a deleted inode; Errno has no name for it.
let ESTALE_ = Errno(116)

/// Whole-block reads of an ext2 image (sb_bread()).
final class Ext2Disk: Sendable {
  let device: BlockDevice
  /// The file-system block size, set once the superblock is read.
  let blockSize: Int
  /// s_blocks_count: blocks at or past it are not part of the file system.
  let blockCount: UInt32

  init(device: BlockDevice, blockSize: Int, blockCount: UInt32) {
    self.device = device
    self.blockSize = blockSize
    self.blockCount = blockCount
  }

  /// Block `number` of the file system, checked against s_blocks_count
  /// (EUCLEAN) and against the device's end (EIO, bio_check_eod()).
  func readBlock(_ number: UInt32) throws(Errno) -> [UInt8] {
    guard number < blockCount else { throw EFSCORRUPTED }
    return try Ext2Disk.readBytes(
      device, at: UInt64(number) * UInt64(blockSize), count: blockSize)
  }

  /// `count` consecutive blocks from `first`, in one bio (a run of a file's
  /// data that lies contiguous on the disk), checked as `readBlock` is.
  func readBlocks(_ first: UInt32, count: Int) throws(Errno) -> [UInt8] {
    guard count > 0, UInt64(first) + UInt64(count) <= UInt64(blockCount) else {
      throw EFSCORRUPTED
    }
    return try Ext2Disk.readBytes(
      device, at: UInt64(first) * UInt64(blockSize), count: count * blockSize)
  }

  /// `count` bytes at byte `offset` of the device, in whole 512-byte sectors.
  static func readBytes(_ device: BlockDevice, at offset: UInt64, count: Int) throws(Errno)
    -> [UInt8]
  {
    let sector = UInt64(BlockDevice.sectorSize)
    let first = offset / sector
    let skip = Int(offset % sector)
    let length = (skip + count + Int(sector) - 1) / Int(sector) * Int(sector)
    var buffer = [UInt8](repeating: 0, count: length)
    try ext2Typed {
      try buffer.withUnsafeMutableBytes { raw in _ = try device.read(sector: first, into: raw) }
    }
    if skip == 0 && length == count { return buffer }
    return Array(buffer[skip..<skip + count])
  }
}

/// Little-endian fields of on-disk structures, read with bounds checks: a
/// field past the end reads as 0 (callers check lengths before they trust one).
struct Ext2Bytes {
  let bytes: [UInt8]
  let base: Int

  init(_ bytes: [UInt8], at base: Int = 0) {
    self.bytes = bytes
    self.base = base
  }

  func u8(_ offset: Int) -> UInt8 {
    let i = base + offset
    return i >= 0 && i < bytes.count ? bytes[i] : 0
  }

  func u16(_ offset: Int) -> UInt16 {
    UInt16(u8(offset)) | UInt16(u8(offset + 1)) << 8
  }

  func u32(_ offset: Int) -> UInt32 {
    UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16
  }

  /// `count` bytes at `offset`, clipped to what exists.
  func slice(_ offset: Int, _ count: Int) -> [UInt8] {
    let start = max(0, min(bytes.count, base + offset))
    let end = max(start, min(bytes.count, base + offset + max(0, count)))
    return Array(bytes[start..<end])
  }
}

/// Runs `body`, whose closure-taking callees (withUnsafeMutableBytes) rethrow
/// untyped errors, and gives back its Errno (EIO for anything else).
func ext2Typed<T>(_ body: () throws -> T) throws(Errno) -> T {
  do {
    return try body()
  } catch let error as Errno {
    throw error
  } catch {
    throw .EIO
  }
}
