// Symbolic links and special nodes (fs/ext2/symlink.c, ext2_iget()).
// A fast symlink keeps its target in i_block's 60 bytes; a slow one in its
// first data block. ext2_inode_is_fast_symlink() tells them apart by i_blocks:
// a fast link holds no blocks besides its xattr block. Device nodes keep their
// number in i_block[0] (old 8:8 encoding) or, when that is 0, in i_block[1]
// (the new 12:20 encoding); fifos and sockets hold nothing.

import SwiftVFSBlock
import SwiftVFSCore

extension Ext2FileSystemInfo {
  /// ext2_inode_is_fast_symlink().
  func isFastSymlink(_ inode: Ext2Inode) -> Bool {
    let xattrSectors: UInt32 = inode.fileACL != 0 ? UInt32(superBlock.blockSize >> 9) : 0
    return inode.fileType == .symlink && inode.blocks &- xattrSectors == 0
  }

  /// A symlink's target: i_size bytes of i_block (fast) or of its first
  /// block (slow, page_get_link()). A size that does not fit is EUCLEAN.
  func symlinkTarget(_ inode: Ext2Inode) throws(Errno) -> [UInt8] {
    guard inode.size > 0 else { throw EFSCORRUPTED }
    if isFastSymlink(inode) {
      guard inode.size < UInt64(inode.blockBytes.count) else { throw EFSCORRUPTED }
      return Array(inode.blockBytes[0..<Int(inode.size)])
    }
    return try readAll(inode, limit: UInt64(superBlock.blockSize - 1))
  }
}

/// Device numbers in i_block, like old_decode_dev() and new_decode_dev().
enum Ext2DeviceNumber {
  /// The rdev of a char or block node from its i_block.
  static func decode(_ block: [UInt32]) throws(Errno) -> DevT {
    let old = block.first ?? 0
    if old != 0 {
      // old_decode_dev(): 8-bit major, 8-bit minor in the low 16 bits.
      return try DevT(major: (old >> 8) & 0xFF, minor: old & 0xFF)
    }
    let new = block.count > 1 ? block[1] : 0
    // new_decode_dev(): minor's low 8 bits, major's 12, minor's high 12.
    return try DevT(major: (new & 0xFFF00) >> 8, minor: (new & 0xFF) | ((new >> 12) & 0xFFF00))
  }
}
