// struct ext2_group_desc (fs/ext2/ext2.h): one 32-byte descriptor per block
// group, in the blocks after the superblock (or, with META_BG, one block of
// descriptors at the start of each meta group: descriptor_loc()). Checked as
// ext2_check_descriptors() checks them: bitmaps and the inode table must lie
// inside their own group.

import SwiftVFSCore

/// One block group's descriptor (struct ext2_group_desc).
public struct Ext2GroupDescriptor: Sendable, Equatable {
  /// The size of a descriptor on the disk.
  public static let size = 32

  /// bg_block_bitmap.
  public var blockBitmap: UInt32
  /// bg_inode_bitmap.
  public var inodeBitmap: UInt32
  /// bg_inode_table: the first block of the group's inode table.
  public var inodeTable: UInt32
  /// bg_free_blocks_count.
  public var freeBlocksCount: UInt16
  /// bg_free_inodes_count.
  public var freeInodesCount: UInt16
  /// bg_used_dirs_count.
  public var usedDirsCount: UInt16
  /// bg_flags (ext4's; ext2 leaves it 0).
  public var flags: UInt16

  /// Parses the descriptor at `offset` of `block`.
  init(_ block: [UInt8], at offset: Int) {
    let b = Ext2Bytes(block, at: offset)
    blockBitmap = b.u32(0)
    inodeBitmap = b.u32(4)
    inodeTable = b.u32(8)
    freeBlocksCount = b.u16(12)
    freeInodesCount = b.u16(14)
    usedDirsCount = b.u16(16)
    flags = b.u16(18)
  }
}

extension Ext2SuperBlock {
  /// ext2_bg_has_super(): whether group `group` holds a backup superblock
  /// (with SPARSE_SUPER only groups 0, 1 and powers of 3, 5 and 7).
  public func groupHasSuper(_ group: UInt32) -> Bool {
    guard has(roCompat: Ext2Features.sparseSuper), group > 1 else { return true }
    for base: UInt32 in [3, 5, 7] {
      var n = base
      while n < group { n = n.multipliedReportingOverflow(by: base).overflow ? .max : n * base }
      if n == group { return true }
    }
    return false
  }

  /// ext2_group_first_block_no().
  public func groupFirstBlock(_ group: UInt32) -> UInt32 {
    group &* blocksPerGroup &+ firstDataBlock
  }

  /// ext2_group_last_block_no().
  public func groupLastBlock(_ group: UInt32) -> UInt32 {
    group == groupCount &- 1 ? blocksCount &- 1 : groupFirstBlock(group) &+ blocksPerGroup &- 1
  }

  /// descriptor_loc(): where descriptor block `n` lives.
  func descriptorBlock(_ n: UInt32) -> UInt32 {
    if !has(incompat: Ext2Features.metaBG) || n < firstMetaBlockGroup {
      return superBlockBlock + n + 1
    }
    let group = UInt32(descriptorsPerBlock) &* n
    return groupFirstBlock(group) &+ (groupHasSuper(group) ? 1 : 0)
  }

  /// Reads and checks every group descriptor, like the descriptor loop of
  /// ext2_fill_super() followed by ext2_check_descriptors(): EINVAL if a
  /// descriptor block cannot be read or a descriptor points outside its group.
  func readGroupDescriptors(_ disk: Ext2Disk) throws(Errno) -> [Ext2GroupDescriptor] {
    let perBlock = UInt32(descriptorsPerBlock)
    let blocks = (groupCount + perBlock - 1) / perBlock
    var descriptors: [Ext2GroupDescriptor] = []
    descriptors.reserveCapacity(Int(groupCount))
    for n in 0..<blocks {
      let block: [UInt8]
      do { block = try disk.readBlock(descriptorBlock(n)) } catch { throw .EINVAL }
      for i in 0..<perBlock where descriptors.count < Int(groupCount) {
        descriptors.append(Ext2GroupDescriptor(block, at: Int(i) * Ext2GroupDescriptor.size))
      }
    }
    for (i, desc) in descriptors.enumerated() {
      let group = UInt32(i)
      let first = groupFirstBlock(group)
      let last = groupLastBlock(group)
      let inGroup = { (block: UInt32) in block >= first && block <= last }
      guard inGroup(desc.blockBitmap), inGroup(desc.inodeBitmap), inGroup(desc.inodeTable),
        UInt64(desc.inodeTable) + UInt64(inodeTableBlocksPerGroup) <= UInt64(last) + 1
      else { throw .EINVAL }  // "group descriptors corrupted"
    }
    return descriptors
  }
}
