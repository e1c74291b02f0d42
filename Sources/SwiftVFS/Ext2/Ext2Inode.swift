// struct ext2_inode (fs/ext2/ext2.h), and the large inode's tail that
// mke2fs writes into 256-byte inodes (i_extra_isize and the *_extra time
// fields of ext4's struct ext4_inode). Read as ext2_iget() reads it, with
// ext4's decoding of the extra fields (the kernel on this machine mounts ext2
// with the ext4 driver, which shows nanoseconds and crtime; fs/ext2 itself
// keeps whole seconds).

import SwiftVFSBlock
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// One inode as stored on the disk (struct ext2_inode + the large-inode tail).
public struct Ext2Inode: Sendable, Equatable {
  /// EXT2_NDIR_BLOCKS: direct block pointers in i_block.
  public static let directBlocks = 12
  /// EXT2_N_BLOCKS: i_block's length (12 direct, indirect, double, triple).
  public static let blockPointers = 15

  /// i_mode.
  public var mode: UInt16
  /// i_uid | l_i_uid_high << 16.
  public var uid: UInt32
  /// i_gid | l_i_gid_high << 16.
  public var gid: UInt32
  /// i_size, with i_size_high (i_dir_acl) for regular files (LARGE_FILE).
  public var size: UInt64
  /// i_atime with its extra field.
  public var atime: Timestamp
  /// i_ctime with its extra field.
  public var ctime: Timestamp
  /// i_mtime with its extra field.
  public var mtime: Timestamp
  /// i_crtime (256-byte inodes only), nil if the inode has none.
  public var crtime: Timestamp?
  /// i_dtime: when it was deleted (0 if in use).
  public var dtime: UInt32
  /// i_links_count.
  public var linksCount: UInt16
  /// i_blocks: 512-byte sectors held, indirect blocks and the xattr block included.
  public var blocks: UInt32
  /// i_flags (EXT2_*_FL).
  public var flags: UInt32
  /// i_block: 15 pointers, or a fast symlink's target, or a device number.
  public var block: [UInt32]
  /// i_block's 60 raw bytes (a fast symlink's target lives there).
  public var blockBytes: [UInt8]
  /// i_generation.
  public var generation: UInt32
  /// i_file_acl: the xattr block, 0 if none.
  public var fileACL: UInt32
  /// i_extra_isize: bytes of the large-inode tail in use (0 for 128-byte inodes).
  public var extraSize: UInt16
  /// The inode's bytes past the first 128 (in-inode xattrs live there).
  public var tail: [UInt8]

  /// Parses an inode of `inodeSize` bytes; EUCLEAN if i_extra_isize does not fit.
  init(parsing raw: [UInt8], inodeSize: Int) throws(Errno) {
    let b = Ext2Bytes(raw)
    mode = b.u16(0)
    uid = UInt32(b.u16(2)) | UInt32(b.u16(120)) << 16
    gid = UInt32(b.u16(24)) | UInt32(b.u16(122)) << 16
    let isRegular = UInt32(mode) & FileType.mask == FileType.regular.rawValue
    size = UInt64(b.u32(4)) | (isRegular ? UInt64(b.u32(108)) << 32 : 0)
    dtime = b.u32(20)
    linksCount = b.u16(26)
    blocks = b.u32(28)
    flags = b.u32(32)
    block = (0..<Ext2Inode.blockPointers).map { b.u32(40 + 4 * $0) }
    blockBytes = b.slice(40, 60)
    generation = b.u32(100)
    fileACL = b.u32(104)
    if inodeSize > Ext2SuperBlock.goodOldInodeSize {
      extraSize = b.u16(128)
      // Like ext4_iget()'s check: the tail must fit and be 4-byte aligned.
      guard Int(extraSize) + Ext2SuperBlock.goodOldInodeSize <= inodeSize, extraSize & 3 == 0
      else { throw EFSCORRUPTED }
      tail = b.slice(128, inodeSize - 128)
    } else {
      extraSize = 0
      tail = []
    }
    // An extra field counts only if i_extra_isize covers it (EXT4_FITS_IN_INODE).
    let extra = extraSize
    func extraField(_ offset: Int) -> UInt32? {
      offset + 4 <= 128 + Int(extra) ? b.u32(offset) : nil
    }
    ctime = Ext2Inode.time(b.u32(12), extraField(132))
    mtime = Ext2Inode.time(b.u32(16), extraField(136))
    atime = Ext2Inode.time(b.u32(8), extraField(140))
    crtime = extraField(144).map { Ext2Inode.time($0, extraField(148)) }
  }

  /// ext4_decode_extra_time(): the low 32 bits are signed seconds; the extra
  /// field's low 2 bits extend the epoch and its upper 30 are nanoseconds.
  static func time(_ seconds: UInt32, _ extra: UInt32?) -> Timestamp {
    var sec = Int64(Int32(bitPattern: seconds))
    guard let extra else { return Timestamp(sec: sec) }
    sec += Int64(extra & 3) << 32
    let nsec = extra >> 2
    // More than 999,999,999 ns is not a time: keep the seconds.
    return Timestamp(sec: sec, nsec: nsec < 1_000_000_000 ? Int32(nsec) : 0)
  }

  /// The file type of i_mode, nil if its type bits name none.
  public var fileType: FileType? { FileType(mode: UInt32(mode)) }
}

extension Ext2FileSystemInfo {
  /// Like ext2_get_inode(): reads inode `ino` from its group's inode table.
  /// A number outside 1...s_inodes_count, or a reserved one other than the
  /// root, is EINVAL ("bad inode number"), as the kernel answers.
  func readDiskInode(_ ino: UInt32) throws(Errno) -> Ext2Inode {
    try Ext2Inode(parsing: try readRawInode(ino), inodeSize: superBlock.inodeSize)
  }

  /// Where inode `ino` lives: its inode-table block and byte offset there.
  /// EINVAL for a number outside 1...s_inodes_count or a reserved one other
  /// than the root, as ext2_get_inode() answers.
  func inodeLocation(_ ino: UInt32) throws(Errno) -> (block: UInt32, offset: Int) {
    let sbd = superBlock
    guard ino == Ext2SuperBlock.rootIno || ino >= sbd.firstIno, ino >= 1,
      ino <= sbd.inodesCount
    else { throw .EINVAL }
    let group = (ino - 1) / sbd.inodesPerGroup
    guard let table = inodeTableBlock(group: group) else { throw EFSCORRUPTED }
    let index = Int((ino - 1) % sbd.inodesPerGroup)
    let byteOffset = index * sbd.inodeSize
    return (table &+ UInt32(byteOffset / sbd.blockSize), byteOffset % sbd.blockSize)
  }

  /// The raw bytes of inode `ino` (s_inode_size of them).
  func readRawInode(_ ino: UInt32) throws(Errno) -> [UInt8] {
    let (block, start) = try inodeLocation(ino)
    let inodeSize = superBlock.inodeSize
    let bh = try disk.buffer(block)
    defer { bh.release() }
    return try bh.withUnsafeBytes { (bytes) throws(Errno) -> [UInt8] in
      guard start + inodeSize <= bytes.count else { throw EFSCORRUPTED }
      return Array(bytes[start..<start + inodeSize])
    }
  }

  /// Like __ext2_write_inode(): copies `raw` into the inode table's buffer
  /// (marked dirty only if something changed; writeback does the rest).
  func writeRawInode(_ ino: UInt32, _ raw: [UInt8]) throws(Errno) {
    let (block, start) = try inodeLocation(ino)
    let bh = try disk.buffer(block)
    defer { bh.release() }
    // One pass under the buffer's lock: compare, and copy only if changed.
    let changed = bh.withUnsafeMutableBytes { bytes -> Bool in
      guard start >= 0, start + raw.count <= bytes.count, let base = bytes.baseAddress else {
        return false
      }
      return raw.withUnsafeBytes { source -> Bool in
        guard let from = source.baseAddress,
          memcmp(base + start, from, source.count) != 0
        else { return false }
        (base + start).copyMemory(from: from, byteCount: source.count)
        return true
      }
    }
    if changed { bh.markDirty() }
  }
}

extension Ext2Inode {
  /// ext4_encode_extra_time(): the extra field of `time` (epoch bits and
  /// nanoseconds).
  static func extraTime(_ time: Timestamp) -> UInt32 {
    // Wrapping: a time past the epoch bits' range must not trap (setattr clamps it first).
    let epoch =
      UInt32(truncatingIfNeeded: (time.sec &- Int64(Int32(truncatingIfNeeded: time.sec))) >> 32)
      & 3
    return epoch | UInt32(max(0, time.nsec)) << 2
  }

  /// Like ext2_write_inode()'s copy into the raw inode: writes every field
  /// this type keeps into `raw` (128 bytes or more), leaving the bytes it
  /// does not know (osd fields, in-inode xattrs) as they are.
  func encode(into raw: inout [UInt8]) {
    let isRegular = UInt32(mode) & FileType.mask == FileType.regular.rawValue
    Ext2Bytes.put16(&raw, 0, mode)
    Ext2Bytes.put16(&raw, 2, UInt16(uid & 0xFFFF))
    Ext2Bytes.put32(&raw, 4, UInt32(truncatingIfNeeded: size))
    Ext2Bytes.put32(&raw, 8, UInt32(truncatingIfNeeded: atime.sec))
    Ext2Bytes.put32(&raw, 12, UInt32(truncatingIfNeeded: ctime.sec))
    Ext2Bytes.put32(&raw, 16, UInt32(truncatingIfNeeded: mtime.sec))
    Ext2Bytes.put32(&raw, 20, dtime)
    Ext2Bytes.put16(&raw, 24, UInt16(gid & 0xFFFF))
    Ext2Bytes.put16(&raw, 26, linksCount)
    Ext2Bytes.put32(&raw, 28, blocks)
    Ext2Bytes.put32(&raw, 32, flags)
    for (i, pointer) in block.prefix(Ext2Inode.blockPointers).enumerated() {
      Ext2Bytes.put32(&raw, 40 + 4 * i, pointer)
    }
    Ext2Bytes.put32(&raw, 100, generation)
    Ext2Bytes.put32(&raw, 104, fileACL)
    Ext2Bytes.put32(&raw, 108, isRegular ? UInt32(truncatingIfNeeded: size >> 32) : 0)
    Ext2Bytes.put16(&raw, 120, UInt16(uid >> 16))
    Ext2Bytes.put16(&raw, 122, UInt16(gid >> 16))
    guard raw.count > Ext2SuperBlock.goodOldInodeSize else { return }
    Ext2Bytes.put16(&raw, 128, extraSize)
    let end = 128 + Int(extraSize)
    if 136 <= end { Ext2Bytes.put32(&raw, 132, Ext2Inode.extraTime(ctime)) }
    if 140 <= end { Ext2Bytes.put32(&raw, 136, Ext2Inode.extraTime(mtime)) }
    if 144 <= end { Ext2Bytes.put32(&raw, 140, Ext2Inode.extraTime(atime)) }
    if let crtime, 152 <= end {
      Ext2Bytes.put32(&raw, 144, UInt32(truncatingIfNeeded: crtime.sec))
      Ext2Bytes.put32(&raw, 148, Ext2Inode.extraTime(crtime))
    }
  }

  /// Sets i_block from 60 raw bytes (a fast symlink's target).
  mutating func setBlockBytes(_ bytes: [UInt8]) {
    var padded = Array(bytes.prefix(60))
    padded += [UInt8](repeating: 0, count: 60 - padded.count)
    blockBytes = padded
    let b = Ext2Bytes(padded)
    block = (0..<Ext2Inode.blockPointers).map { b.u32(4 * $0) }
  }

  /// Sets one i_block pointer, keeping `blockBytes` in step.
  mutating func setPointer(_ index: Int, _ value: UInt32) {
    guard index >= 0, index < block.count else { return }
    block[index] = value
    Ext2Bytes.put32(&blockBytes, 4 * index, value)
  }
}
