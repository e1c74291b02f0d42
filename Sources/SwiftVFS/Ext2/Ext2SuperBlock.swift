// struct ext2_super_block (fs/ext2/ext2.h): the 1024 bytes at byte 1024 of
// the image, little-endian, and the checks ext2_fill_super() makes before it
// trusts them. Every failed check refuses the mount with EINVAL, as
// ext2_fill_super()'s `failed_mount` and `cantfind_ext2` paths return.

import SwiftVFSCore

/// The ext2 superblock (struct ext2_super_block), as read from the disk.
public struct Ext2SuperBlock: Sendable, Equatable {
  /// EXT2_SUPER_MAGIC.
  public static let magicNumber: UInt16 = 0xEF53
  /// The superblock's byte offset on the disk (block 1 of a 1 KiB file system).
  public static let offset = 1024
  /// Its size on the disk.
  public static let size = 1024
  /// EXT2_GOOD_OLD_REV: revision 0, fixed 128-byte inodes, first inode 11.
  public static let goodOldRevision: UInt32 = 0
  /// EXT2_GOOD_OLD_INODE_SIZE.
  public static let goodOldInodeSize = 128
  /// EXT2_GOOD_OLD_FIRST_INO.
  public static let goodOldFirstIno: UInt32 = 11
  /// EXT2_ROOT_INO.
  public static let rootIno: UInt32 = 2
  /// The largest s_log_block_size mounted here: 4 KiB blocks (a page, as
  /// sb_set_blocksize() allows on this machine).
  public static let maxLogBlockSize: UInt32 = 2

  /// s_inodes_count.
  public var inodesCount: UInt32
  /// s_blocks_count.
  public var blocksCount: UInt32
  /// s_r_blocks_count: blocks reserved for the superuser.
  public var reservedBlocksCount: UInt32
  /// s_free_blocks_count.
  public var freeBlocksCount: UInt32
  /// s_free_inodes_count.
  public var freeInodesCount: UInt32
  /// s_first_data_block: 1 for 1 KiB blocks, else 0.
  public var firstDataBlock: UInt32
  /// s_log_block_size: the block size is 1024 << it.
  public var logBlockSize: UInt32
  /// s_log_frag_size (fragments were never implemented: must match the block size).
  public var logFragSize: UInt32
  /// s_blocks_per_group.
  public var blocksPerGroup: UInt32
  /// s_frags_per_group.
  public var fragsPerGroup: UInt32
  /// s_inodes_per_group.
  public var inodesPerGroup: UInt32
  /// s_mtime: last mount time.
  public var mountTime: UInt32
  /// s_wtime: last write time.
  public var writeTime: UInt32
  /// s_mnt_count: mounts since the last check.
  public var mountCount: UInt16
  /// s_max_mnt_count: mounts allowed before a check (-1: none).
  public var maxMountCount: Int16
  /// s_magic.
  public var magic: UInt16
  /// s_state: EXT2_VALID_FS (1) when cleanly unmounted, EXT2_ERROR_FS (2).
  public var state: UInt16
  /// s_errors: what to do on an error (1 continue, 2 remount-ro, 3 panic).
  public var errors: UInt16
  /// s_minor_rev_level.
  public var minorRevisionLevel: UInt16
  /// s_lastcheck.
  public var lastCheck: UInt32
  /// s_checkinterval.
  public var checkInterval: UInt32
  /// s_creator_os (0 Linux).
  public var creatorOS: UInt32
  /// s_rev_level.
  public var revisionLevel: UInt32
  /// s_def_resuid.
  public var defaultReservedUID: UInt16
  /// s_def_resgid.
  public var defaultReservedGID: UInt16
  /// s_first_ino: the first inode for ordinary files (rev 1).
  public var firstInoField: UInt32
  /// s_inode_size (rev 1).
  public var inodeSizeField: UInt16
  /// s_block_group_nr: the group this copy of the superblock lives in.
  public var blockGroupNumber: UInt16
  /// s_feature_compat.
  public var featureCompat: UInt32
  /// s_feature_incompat.
  public var featureIncompat: UInt32
  /// s_feature_ro_compat.
  public var featureROCompat: UInt32
  /// s_uuid.
  public var uuid: [UInt8]
  /// s_volume_name, up to its first NUL.
  public var volumeName: [UInt8]
  /// s_last_mounted, up to its first NUL.
  public var lastMounted: [UInt8]
  /// s_algorithm_usage_bitmap.
  public var algorithmUsageBitmap: UInt32
  /// s_prealloc_blocks.
  public var preallocBlocks: UInt8
  /// s_prealloc_dir_blocks.
  public var preallocDirBlocks: UInt8
  /// s_journal_inum (ext3; ext2 ignores the journal).
  public var journalInode: UInt32
  /// s_journal_dev.
  public var journalDevice: UInt32
  /// s_last_orphan.
  public var lastOrphan: UInt32
  /// s_hash_seed: the htree hash seed.
  public var hashSeed: [UInt32]
  /// s_def_hash_version.
  public var defaultHashVersion: UInt8
  /// s_default_mount_opts (EXT2_DEFM_*).
  public var defaultMountOptions: UInt32
  /// s_first_meta_bg.
  public var firstMetaBlockGroup: UInt32

  /// Parses the 1024 bytes of the superblock (no checks: see `validate`).
  public init(parsing bytes: [UInt8]) {
    let b = Ext2Bytes(bytes)
    inodesCount = b.u32(0)
    blocksCount = b.u32(4)
    reservedBlocksCount = b.u32(8)
    freeBlocksCount = b.u32(12)
    freeInodesCount = b.u32(16)
    firstDataBlock = b.u32(20)
    logBlockSize = b.u32(24)
    logFragSize = b.u32(28)
    blocksPerGroup = b.u32(32)
    fragsPerGroup = b.u32(36)
    inodesPerGroup = b.u32(40)
    mountTime = b.u32(44)
    writeTime = b.u32(48)
    mountCount = b.u16(52)
    maxMountCount = Int16(bitPattern: b.u16(54))
    magic = b.u16(56)
    state = b.u16(58)
    errors = b.u16(60)
    minorRevisionLevel = b.u16(62)
    lastCheck = b.u32(64)
    checkInterval = b.u32(68)
    creatorOS = b.u32(72)
    revisionLevel = b.u32(76)
    defaultReservedUID = b.u16(80)
    defaultReservedGID = b.u16(82)
    firstInoField = b.u32(84)
    inodeSizeField = b.u16(88)
    blockGroupNumber = b.u16(90)
    featureCompat = b.u32(92)
    featureIncompat = b.u32(96)
    featureROCompat = b.u32(100)
    uuid = b.slice(104, 16)
    volumeName = Array(b.slice(120, 16).prefix { $0 != 0 })
    lastMounted = Array(b.slice(136, 64).prefix { $0 != 0 })
    algorithmUsageBitmap = b.u32(200)
    preallocBlocks = b.u8(204)
    preallocDirBlocks = b.u8(205)
    journalInode = b.u32(224)
    journalDevice = b.u32(228)
    lastOrphan = b.u32(232)
    hashSeed = (0..<4).map { b.u32(236 + 4 * $0) }
    defaultHashVersion = b.u8(252)
    defaultMountOptions = b.u32(256)
    firstMetaBlockGroup = b.u32(260)
  }

  // MARK: - Derived values (the EXT2_* macros of ext2.h)

  /// EXT2_BLOCK_SIZE (meaningful once `validate` passed).
  public var blockSize: Int { 1024 << Int(min(logBlockSize, 16)) }
  /// EXT2_INODE_SIZE: 128 for revision 0, else s_inode_size.
  public var inodeSize: Int {
    revisionLevel == Ext2SuperBlock.goodOldRevision
      ? Ext2SuperBlock.goodOldInodeSize : Int(inodeSizeField)
  }
  /// EXT2_FIRST_INO: 11 for revision 0, else s_first_ino.
  public var firstIno: UInt32 {
    revisionLevel == Ext2SuperBlock.goodOldRevision
      ? Ext2SuperBlock.goodOldFirstIno : firstInoField
  }
  /// s_groups_count, as ext2_fill_super() computes it.
  public var groupCount: UInt32 {
    guard blocksPerGroup > 0, blocksCount > firstDataBlock else { return 0 }
    return (blocksCount - firstDataBlock - 1) / blocksPerGroup + 1
  }
  /// EXT2_DESC_PER_BLOCK: 32-byte descriptors per block.
  public var descriptorsPerBlock: Int { blockSize / Ext2GroupDescriptor.size }
  /// s_itb_per_group: inode-table blocks per group.
  public var inodeTableBlocksPerGroup: UInt32 {
    UInt32(Int(inodesPerGroup) / max(1, blockSize / max(1, inodeSize)))
  }
  /// The block that holds the superblock: 1 with 1 KiB blocks, else 0.
  public var superBlockBlock: UInt32 { UInt32(Ext2SuperBlock.offset / blockSize) }

  /// Whether a compat feature bit is set.
  public func has(compat bit: UInt32) -> Bool { featureCompat & bit != 0 }
  /// Whether an incompat feature bit is set.
  public func has(incompat bit: UInt32) -> Bool { featureIncompat & bit != 0 }
  /// Whether a ro_compat feature bit is set.
  public func has(roCompat bit: UInt32) -> Bool { featureROCompat & bit != 0 }

  /// What the feature flags allow, decided as ext2_fill_super() decides.
  public enum FeatureDecision: Sendable, Equatable {
    /// Every feature is known: read-write is possible.
    case readWrite
    /// Unknown RO_COMPAT features: the kernel refuses a read-write mount
    /// ("couldn't mount RDWR because of unsupported optional features")
    /// and allows a read-only one.
    case readOnlyOnly(unknownROCompat: UInt32)
  }

  /// Like the feature checks of ext2_fill_super(): unknown INCOMPAT bits
  /// (anything but FILETYPE and META_BG; RECOVER and JOURNAL_DEV among them)
  /// refuse the mount with EINVAL; unknown RO_COMPAT bits (anything but
  /// SPARSE_SUPER, LARGE_FILE, BTREE_DIR) leave only a read-only mount.
  public func featureDecision() throws(Errno) -> FeatureDecision {
    if featureIncompat & ~Ext2Features.incompatSupported != 0 { throw .EINVAL }
    let unknown = featureROCompat & ~Ext2Features.roCompatSupported
    return unknown == 0 ? .readWrite : .readOnlyOnly(unknownROCompat: unknown)
  }

  /// The geometry checks of ext2_fill_super(), for a device of
  /// `deviceBytes`. Any failure is EINVAL, as the mount returns.
  public func validate(deviceBytes: UInt64) throws(Errno) {
    guard magic == Ext2SuperBlock.magicNumber else { throw .EINVAL }
    // "Invalid log block size": 1, 2 or 4 KiB here.
    guard logBlockSize <= Ext2SuperBlock.maxLogBlockSize else { throw .EINVAL }
    guard logFragSize == logBlockSize else { throw .EINVAL }  // fragsize != blocksize
    if revisionLevel != Ext2SuperBlock.goodOldRevision {
      let size = Int(inodeSizeField)
      // "unsupported inode size"
      guard size >= Ext2SuperBlock.goodOldInodeSize, size & (size - 1) == 0, size <= blockSize
      else { throw .EINVAL }
      // The reserved inodes (root, bad blocks...) lie below s_first_ino.
      guard firstInoField > Ext2SuperBlock.rootIno else { throw .EINVAL }
    }
    let bitsPerBlock = UInt32(blockSize * 8)
    guard blocksPerGroup > 0, blocksPerGroup <= bitsPerBlock else { throw .EINVAL }
    guard fragsPerGroup <= bitsPerBlock else { throw .EINVAL }
    // "invalid #inodes per group": at least a block of them, at most a bitmap's worth.
    let inodesPerBlock = UInt32(blockSize / inodeSize)
    guard inodesPerGroup >= inodesPerBlock, inodesPerGroup <= bitsPerBlock else {
      throw .EINVAL
    }
    // The first data block is the one after the superblock's block.
    guard firstDataBlock == (blockSize == 1024 ? 1 : 0) else { throw .EINVAL }
    guard blocksCount > firstDataBlock else { throw .EINVAL }
    // "bad geometry: block count exceeds size of device".
    guard UInt64(blocksCount) * UInt64(blockSize) <= deviceBytes else { throw .EINVAL }
    // "invalid #inodes: vs computed".
    guard UInt64(groupCount) * UInt64(inodesPerGroup) == UInt64(inodesCount) else {
      throw .EINVAL
    }
    guard firstIno <= inodesCount else { throw .EINVAL }
    if has(incompat: Ext2Features.metaBG) {
      // Like ext2's "first meta block group too large".
      let descriptorBlocks =
        (groupCount + UInt32(descriptorsPerBlock) - 1)
        / UInt32(descriptorsPerBlock)
      guard firstMetaBlockGroup <= descriptorBlocks else { throw .EINVAL }
    }
  }
}

/// The feature bits of ext2.h (EXT2_FEATURE_*), and the names dumpe2fs gives them.
public enum Ext2Features {
  /// EXT2_FEATURE_COMPAT_DIR_PREALLOC.
  public static let dirPrealloc: UInt32 = 0x0001
  /// EXT2_FEATURE_COMPAT_IMAGIC_INODES.
  public static let imagicInodes: UInt32 = 0x0002
  /// EXT3_FEATURE_COMPAT_HAS_JOURNAL.
  public static let hasJournal: UInt32 = 0x0004
  /// EXT2_FEATURE_COMPAT_EXT_ATTR.
  public static let extAttr: UInt32 = 0x0008
  /// EXT2_FEATURE_COMPAT_RESIZE_INO.
  public static let resizeInode: UInt32 = 0x0010
  /// EXT2_FEATURE_COMPAT_DIR_INDEX.
  public static let dirIndex: UInt32 = 0x0020

  /// EXT2_FEATURE_INCOMPAT_COMPRESSION.
  public static let compression: UInt32 = 0x0001
  /// EXT2_FEATURE_INCOMPAT_FILETYPE.
  public static let fileType: UInt32 = 0x0002
  /// EXT3_FEATURE_INCOMPAT_RECOVER.
  public static let recover: UInt32 = 0x0004
  /// EXT3_FEATURE_INCOMPAT_JOURNAL_DEV.
  public static let journalDev: UInt32 = 0x0008
  /// EXT2_FEATURE_INCOMPAT_META_BG.
  public static let metaBG: UInt32 = 0x0010

  /// EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER.
  public static let sparseSuper: UInt32 = 0x0001
  /// EXT2_FEATURE_RO_COMPAT_LARGE_FILE.
  public static let largeFile: UInt32 = 0x0002
  /// EXT2_FEATURE_RO_COMPAT_BTREE_DIR.
  public static let btreeDir: UInt32 = 0x0004

  /// EXT2_FEATURE_INCOMPAT_SUPP.
  public static let incompatSupported: UInt32 = fileType | metaBG
  /// EXT2_FEATURE_RO_COMPAT_SUPP.
  public static let roCompatSupported: UInt32 = sparseSuper | largeFile | btreeDir

  /// EXT2_DEFM_XATTR_USER.
  public static let defaultMountXattrUser: UInt32 = 0x0004
  /// EXT2_DEFM_ACL.
  public static let defaultMountACL: UInt32 = 0x0008

  static let compatNames: [(UInt32, String)] = [
    (dirPrealloc, "dir_prealloc"), (imagicInodes, "imagic_inodes"), (hasJournal, "has_journal"),
    (extAttr, "ext_attr"), (resizeInode, "resize_inode"), (dirIndex, "dir_index"),
  ]
  static let incompatNames: [(UInt32, String)] = [
    (compression, "compression"), (fileType, "filetype"), (recover, "needs_recovery"),
    (journalDev, "journal_dev"), (metaBG, "meta_bg"),
  ]
  static let roCompatNames: [(UInt32, String)] = [
    (sparseSuper, "sparse_super"), (largeFile, "large_file"), (btreeDir, "btree_dir"),
  ]

  /// The feature names as `dumpe2fs -h` lists them, unknown bits as FEATURE_C12 etc.
  public static func names(compat: UInt32, incompat: UInt32, roCompat: UInt32) -> [String] {
    func list(_ value: UInt32, _ known: [(UInt32, String)], _ letter: String) -> [String] {
      (0..<32).compactMap { bit -> String? in
        let mask = UInt32(1) << UInt32(bit)
        guard value & mask != 0 else { return nil }
        return known.first { $0.0 == mask }?.1 ?? "FEATURE_\(letter)\(bit)"
      }
    }
    return list(compat, compatNames, "C") + list(incompat, incompatNames, "I")
      + list(roCompat, roCompatNames, "R")
  }
}
