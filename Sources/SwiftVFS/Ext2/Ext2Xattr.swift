// Extended attributes (fs/ext2/xattr.c): a block at i_file_acl that starts
// with struct ext2_xattr_header (magic 0xEA020000, h_blocks 1) followed by
// struct ext2_xattr_entry records, values packed at the block's end. A
// 256-byte inode may also hold them in its body after i_extra_isize, in the
// same entry format (ext4's ibody xattrs, which mke2fs -d writes there and
// the ext4 driver that mounts ext2 on this machine reads). Every offset and
// length is checked against its region, like ext2_xattr_header_valid() and
// ext2_xattr_entry_valid(): a bad one is EUCLEAN. POSIX ACLs are stored in
// ext2's own compact format (ext2_acl_from_disk()) and become `PosixAcl`s.

import SwiftVFSBlock
import SwiftVFSCore

/// The on-disk xattr format of ext2 (struct ext2_xattr_header / _entry).
enum Ext2Xattr {
  /// EXT2_XATTR_MAGIC.
  static let magic: UInt32 = 0xEA02_0000
  /// sizeof(struct ext2_xattr_header).
  static let headerSize = 32
  /// sizeof(struct ext2_xattr_entry) without the name.
  static let entrySize = 16
  /// EXT2_XATTR_INDEX_POSIX_ACL_ACCESS.
  static let aclAccessIndex: UInt8 = 2
  /// EXT2_XATTR_INDEX_POSIX_ACL_DEFAULT.
  static let aclDefaultIndex: UInt8 = 3

  /// The name prefix of each name index (ext2_xattr_handler_map).
  static func prefix(ofIndex index: UInt8) -> String? {
    switch index {
    case 1: "user."
    case aclAccessIndex: PosixAcl.accessXattr
    case aclDefaultIndex: PosixAcl.defaultXattr
    case 4: "trusted."
    case 6: "security."
    default: nil  // 5 (lustre) and 7 (system.data) have no handler in ext2
    }
  }

  /// One attribute: the full name and its value, as stored.
  struct Attribute {
    var index: UInt8
    var name: String
    var value: [UInt8]
  }

  /// The entries of a region: `entries` is where the first entry starts,
  /// `end` where the region ends, values at `valueBase` + e_value_offs.
  static func parseEntries(_ data: [UInt8], entries: Int, end: Int, valueBase: Int)
    throws(Errno) -> [Attribute]
  {
    let b = Ext2Bytes(data)
    var attributes: [Attribute] = []
    var offset = entries
    // Each entry is at least 16 bytes, so this ends within end/16 steps.
    while true {
      guard offset + 4 <= end else { throw EFSCORRUPTED }
      if b.u32(offset) == 0 { break }  // IS_LAST_ENTRY
      let nameLength = Int(b.u8(offset))
      let index = b.u8(offset + 1)
      let valueOffset = Int(b.u16(offset + 2))
      let valueBlock = b.u32(offset + 4)
      let valueSize = Int(b.u32(offset + 8))
      let next = offset + ((nameLength + entrySize + 3) & ~3)  // EXT2_XATTR_NEXT
      guard next + 4 <= end, valueBlock == 0, valueSize <= end - valueBase,
        valueBase + valueOffset + valueSize <= end
      else { throw EFSCORRUPTED }
      let nameBytes = b.slice(offset + entrySize, nameLength)
      if let prefix = prefix(ofIndex: index) {
        let name = prefix + String(decoding: nameBytes, as: UTF8.self)
        attributes.append(
          Attribute(index: index, name: name, value: b.slice(valueBase + valueOffset, valueSize)))
      }
      offset = next
    }
    return attributes
  }

  /// ext2_acl_from_disk(): version 1, then entries of 4 bytes (tag, perm)
  /// or 8 for USER and GROUP (with the id). EINVAL if malformed.
  static func aclFromDisk(_ value: [UInt8]) throws(Errno) -> PosixAcl? {
    let b = Ext2Bytes(value)
    guard value.count >= 4, b.u32(0) == 1 else { throw .EINVAL }  // EXT2_ACL_VERSION
    var entries: [PosixAcl.Entry] = []
    var offset = 4
    while offset < value.count {
      guard offset + 4 <= value.count, let tag = PosixAcl.Tag(rawValue: b.u16(offset)) else {
        throw .EINVAL
      }
      let perm = b.u16(offset + 2)
      switch tag {
      case .user, .group:
        guard offset + 8 <= value.count else { throw .EINVAL }
        entries.append(PosixAcl.Entry(tag, perm, id: b.u32(offset + 4)))
        offset += 8
      default:
        entries.append(PosixAcl.Entry(tag, perm))
        offset += 4
      }
    }
    if entries.isEmpty { return nil }
    let acl = PosixAcl(entries)
    try acl.validate()
    return acl
  }
}

extension Ext2FileSystemInfo {
  /// Every attribute of `inode`: those in the inode body, then those in its
  /// xattr block (as ext4_xattr_get() looks: body first).
  func readXattrs(_ inode: Ext2Inode) throws(Errno) -> [Ext2Xattr.Attribute] {
    var attributes: [Ext2Xattr.Attribute] = []
    // In the body: after i_extra_isize, a magic, then entries whose values
    // are relative to the first entry.
    let bodyStart = Int(inode.extraSize)  // within `tail`, which starts at byte 128
    if !inode.tail.isEmpty, bodyStart + 4 <= inode.tail.count,
      Ext2Bytes(inode.tail).u32(bodyStart) == Ext2Xattr.magic
    {
      let first = bodyStart + 4
      attributes += try Ext2Xattr.parseEntries(
        inode.tail, entries: first, end: inode.tail.count, valueBase: first)
    }
    if inode.fileACL != 0 {
      let sbd = superBlock
      guard inode.fileACL > sbd.superBlockBlock, inode.fileACL < sbd.blocksCount else {
        throw EFSCORRUPTED  // "inode has bad xattr block"
      }
      let block = try disk.readBlock(inode.fileACL)
      let b = Ext2Bytes(block)
      // ext2_xattr_header_valid(): the magic, and exactly one block.
      guard b.u32(0) == Ext2Xattr.magic, b.u32(8) == 1 else { throw EFSCORRUPTED }
      attributes += try Ext2Xattr.parseEntries(
        block, entries: Ext2Xattr.headerSize, end: block.count, valueBase: 0)
    }
    return attributes
  }
}

extension Ext2FileSystemInfo {
  /// Like ext2_xattr_delete_inode(): drops the inode's reference to its
  /// xattr block; the last reference frees the block (h_refcount).
  func releaseXattrBlock(_ core: Ext2InodeCore) {
    let block = core.lock.withLock { core.disk.fileACL }
    guard block != 0, (try? checkPointer(block)) != nil, let bh = try? disk.buffer(block) else {
      return
    }
    let (magic, refcount) = bh.withUnsafeBytes { bytes in
      (
        bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian,
        bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
      )
    }
    if magic == Ext2Xattr.magic, refcount > 1 {
      bh.modify { bytes in
        bytes.storeBytes(of: (refcount - 1).littleEndian, toByteOffset: 4, as: UInt32.self)
      }
      bh.release()
    } else {
      bh.release()
      freeBlocks([block])
    }
    let sectors = UInt32(superBlock.blockSize / 512)
    core.lock.withLock {
      core.disk.fileACL = 0
      core.disk.blocks &-= min(core.disk.blocks, sectors)
    }
  }
}
