// The one place ext2 reaches its disk's metadata: whole file-system blocks
// through the buffer cache, like sb_bread() / sb_getblk() in fs/ext2. Every
// block number is checked against s_blocks_count first, so a pointer read
// from a damaged image turns into EUCLEAN (the kernel's EFSCORRUPTED)
// instead of a read past the end. File data goes through each inode's
// AddressSpace instead (Ext2File.swift), never through here, so no block is
// cached both ways.
//
// Locking: none of its own; the buffer cache is safe from any thread.

import SwiftVFSBlock
import SwiftVFSCore

/// EFSCORRUPTED, the errno of "EXT2-fs error" (include/linux/jbd2.h: EUCLEAN, 117).
let EFSCORRUPTED = Errno.EUCLEAN
/// ESTALE (116): ext2_iget()'s answer for a deleted inode.
let ESTALE_ = Errno.ESTALE

/// Whole-block metadata I/O of an ext2 image (sb_bread(), sb_getblk()).
final class Ext2Disk: Sendable {
  let device: BlockDevice
  /// The buffer cache of the device in the file system's block size.
  let buffers: BufferCache
  /// The file-system block size, set once the superblock is read.
  let blockSize: Int
  /// s_blocks_count: blocks at or past it are not part of the file system.
  let blockCount: UInt32

  init(device: BlockDevice, buffers: BufferCache, blockSize: Int, blockCount: UInt32) {
    self.device = device
    self.buffers = buffers
    self.blockSize = blockSize
    self.blockCount = blockCount
  }

  /// The page cache the buffers (and the files' pages) live in.
  var cache: PageCache { buffers.cache }

  /// The buffer of block `number` (sb_bread()), checked against
  /// s_blocks_count (EUCLEAN).
  func buffer(_ number: UInt32) throws(Errno) -> BufferHead {
    guard number < blockCount else { throw EFSCORRUPTED }
    return try buffers.read(block: UInt64(number))
  }

  /// The buffer of a newly allocated block (an indirect, directory or
  /// xattr block), taken without reading the disk (sb_getblk()), zeroed
  /// once, filled by `fill`, up to date and dirty.
  func zeroedBuffer(
    _ number: UInt32, _ fill: (UnsafeMutableRawBufferPointer) -> Void = { _ in }
  ) throws(Errno) -> BufferHead {
    guard number < blockCount else { throw EFSCORRUPTED }
    return try buffers.getZeroed(block: UInt64(number), fill)
  }

  /// A copy of block `number`'s bytes.
  func readBlock(_ number: UInt32) throws(Errno) -> [UInt8] {
    let bh = try buffer(number)
    defer { bh.release() }
    return bh.bytes
  }

  /// `count` bytes at byte `offset` of the device, in whole 512-byte sectors,
  /// bypassing the cache (the superblock, before the block size is known).
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

  /// Stores a little-endian 16-bit value at `offset` of `bytes` (ignored
  /// past the end).
  static func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt16) {
    guard offset >= 0, offset + 2 <= bytes.count else { return }
    // One store, not two checked subscripts: every inode write encodes
    // some thirty fields this way.
    bytes.withUnsafeMutableBytes {
      $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }
  }

  /// Stores a little-endian 32-bit value at `offset` of `bytes` (the half
  /// that fits if only the low 16 bits do).
  static func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    guard offset >= 0, offset + 4 <= bytes.count else {
      put16(&bytes, offset, UInt16(value & 0xFFFF))
      put16(&bytes, offset + 2, UInt16(value >> 16))
      return
    }
    bytes.withUnsafeMutableBytes {
      $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
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
