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
    /// The full name ("user.x"); empty for an index ext2 has no handler for
    /// (kept so that rewriting the block does not lose it).
    var name: String
    /// The name without its prefix, as stored (e_name).
    var suffix: [UInt8]
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
      let name = prefix(ofIndex: index).map { $0 + String(decoding: nameBytes, as: UTF8.self) }
      attributes.append(
        Attribute(
          index: index, name: name ?? "", suffix: nameBytes,
          value: b.slice(valueBase + valueOffset, valueSize)))
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
    try bodyXattrs(inode) + (try blockXattrs(inode))
  }

  /// The attributes in the inode body: after i_extra_isize, a magic, then
  /// entries whose values are relative to the first entry.
  func bodyXattrs(_ inode: Ext2Inode) throws(Errno) -> [Ext2Xattr.Attribute] {
    let bodyStart = Int(inode.extraSize)  // within `tail`, which starts at byte 128
    guard !inode.tail.isEmpty, bodyStart + 4 <= inode.tail.count,
      Ext2Bytes(inode.tail).u32(bodyStart) == Ext2Xattr.magic
    else { return [] }
    let first = bodyStart + 4
    return try Ext2Xattr.parseEntries(
      inode.tail, entries: first, end: inode.tail.count, valueBase: first)
  }

  /// The attributes in the xattr block, with the block's h_refcount.
  func blockXattrs(_ inode: Ext2Inode) throws(Errno) -> [Ext2Xattr.Attribute] {
    guard inode.fileACL != 0 else { return [] }
    return try readXattrBlock(inode.fileACL).attributes
  }

  /// An xattr block's attributes and h_refcount, checked like
  /// ext2_xattr_header_valid(): the magic, and exactly one block.
  func readXattrBlock(_ number: UInt32) throws(Errno)
    -> (attributes: [Ext2Xattr.Attribute], refcount: UInt32)
  {
    let sbd = superBlock
    guard number > sbd.superBlockBlock, number < sbd.blocksCount else {
      throw EFSCORRUPTED  // "inode has bad xattr block"
    }
    let block = try disk.readBlock(number)
    let b = Ext2Bytes(block)
    guard b.u32(0) == Ext2Xattr.magic, b.u32(8) == 1 else { throw EFSCORRUPTED }
    let attributes = try Ext2Xattr.parseEntries(
      block, entries: Ext2Xattr.headerSize, end: block.count, valueBase: 0)
    return (attributes, b.u32(4))
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

extension Ext2Xattr {
  /// The name index and stored suffix of a full name (ext2_xattr_handler()
  /// run backwards); EOPNOTSUPP for a namespace ext2 does not store.
  static func split(_ name: String) throws(Errno) -> (index: UInt8, suffix: [UInt8]) {
    for (index, prefix) in [(UInt8(1), "user."), (4, "trusted."), (6, "security.")]
    where name.hasPrefix(prefix) {
      let suffix = Array(name.utf8.dropFirst(prefix.utf8.count))
      // A prefix alone is EINVAL in xattr_resolve_name(), before ext2 sees it;
      // a name past 255 bytes is ERANGE in ext2_xattr_get() / ext2_xattr_set().
      guard !suffix.isEmpty else { throw .EINVAL }
      guard suffix.count <= 255 else { throw .ERANGE }
      return (index, suffix)
    }
    if name == PosixAcl.accessXattr { return (aclAccessIndex, []) }
    if name == PosixAcl.defaultXattr { return (aclDefaultIndex, []) }
    throw .EOPNOTSUPP
  }

  /// ext2_xattr_hash_entry(): the name's bytes, then the value's words.
  static func hash(_ attribute: Attribute) -> UInt32 {
    var hash: UInt32 = 0
    for byte in attribute.suffix {
      hash = (hash << 5) ^ (hash >> 27) ^ UInt32(byte)
    }
    if !attribute.value.isEmpty {
      let padded =
        attribute.value + [UInt8](repeating: 0, count: (4 - attribute.value.count % 4) % 4)
      let b = Ext2Bytes(padded)
      for word in 0..<(padded.count / 4) {
        hash = (hash << 16) ^ (hash >> 16) ^ b.u32(word * 4)
      }
    }
    return hash
  }

  /// Lays `attributes` out in a region of `size` bytes: entries from
  /// `entries` on (ending with 4 zero bytes), values packed at the end and
  /// padded to 4, offsets relative to `valueBase`; hashes set. nil if they
  /// do not fit (ENOSPC for the caller).
  static func layout(
    _ attributes: [Attribute], into region: inout [UInt8], entries: Int, valueBase: Int,
    hashes: Bool
  ) -> [UInt32]? {
    var entryOffset = entries
    var valueEnd = region.count
    var entryHashes: [UInt32] = []
    for a in attributes {
      let entryLength = (a.suffix.count + entrySize + 3) & ~3
      let valueLength = (a.value.count + 3) & ~3
      guard entryOffset + entryLength + 4 <= valueEnd - valueLength else { return nil }
      valueEnd -= valueLength
      for (i, byte) in a.value.enumerated() { region[valueEnd + i] = byte }
      let hash = hashes ? Ext2Xattr.hash(a) : 0
      entryHashes.append(hash)
      region[entryOffset] = UInt8(a.suffix.count)
      region[entryOffset + 1] = a.index
      Ext2Bytes.put16(&region, entryOffset + 2, UInt16(valueEnd - valueBase))
      Ext2Bytes.put32(&region, entryOffset + 4, 0)
      Ext2Bytes.put32(&region, entryOffset + 8, UInt32(a.value.count))
      Ext2Bytes.put32(&region, entryOffset + 12, hash)
      for (i, byte) in a.suffix.enumerated() { region[entryOffset + entrySize + i] = byte }
      entryOffset += entryLength
    }
    return entryHashes
  }

  /// ext2_acl_to_disk(): the compact on-disk form of an ACL.
  static func aclToDisk(_ acl: PosixAcl) -> [UInt8] {
    var bytes: [UInt8] = []
    func put16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func put32(_ v: UInt32) {
      put16(UInt16(v & 0xFFFF))
      put16(UInt16(v >> 16))
    }
    put32(1)  // EXT2_ACL_VERSION
    for entry in acl.entries {
      put16(entry.tag.rawValue)
      put16(entry.perm)
      if entry.tag == .user || entry.tag == .group { put32(entry.id) }
    }
    return bytes
  }
}

extension Ext2FileSystemInfo {
  /// Like ext2_xattr_set(): sets (`value` non-nil) or removes `name`
  /// (EEXIST / ENODATA as `flags` ask). The block is rewritten in place when
  /// this inode alone uses it, else a copy is made (copy-on-write of a block
  /// shared through h_refcount); no attribute left frees it. An attribute
  /// that lived in the inode body moves to the block. ENOSPC when they do
  /// not fit in one block.
  func setXattr(
    _ inode: Inode, index: UInt8, suffix: [UInt8], value: [UInt8]?, flags: XattrFlags
  ) throws(Errno) {
    let core = try core(of: inode)
    let disk = core.snapshot
    var body = try bodyXattrs(disk)
    var block = try blockXattrs(disk)
    let matches = { (a: Ext2Xattr.Attribute) in a.index == index && a.suffix == suffix }
    let exists = body.contains(where: matches) || block.contains(where: matches)
    if flags.contains(.create), exists { throw .EEXIST }
    if flags.contains(.replace) || value == nil, !exists { throw .ENODATA }
    let bodyChanged = body.contains(where: matches)
    body.removeAll(where: matches)
    block.removeAll(where: matches)
    if let value {
      block.append(Ext2Xattr.Attribute(index: index, name: "", suffix: suffix, value: value))
    }
    // ext2_xattr_set() keeps entries sorted by index, name length, name.
    block.sort {
      ($0.index, $0.suffix.count) != ($1.index, $1.suffix.count)
        ? ($0.index, $0.suffix.count) < ($1.index, $1.suffix.count)
        : $0.suffix.lexicographicallyPrecedes($1.suffix)
    }
    if bodyChanged { try writeBody(core, body) }
    try writeXattrBlock(inode, core, block)
    inode.lock.withLock { inode.ctime = .now }
    syncBlocks(inode, core)
    try writeInode(inode)
    markDirty(inode)
  }

  /// Rewrites the xattr entries of the inode body (256-byte inodes).
  private func writeBody(_ core: Ext2InodeCore, _ attributes: [Ext2Xattr.Attribute]) throws(Errno) {
    try core.lock.withLock { () throws(Errno) in
      let start = 128 + Int(core.disk.extraSize)
      guard start + 4 <= core.raw.count else { return }
      var region = [UInt8](repeating: 0, count: core.raw.count - start)
      if !attributes.isEmpty {
        Ext2Bytes.put32(&region, 0, Ext2Xattr.magic)
        guard
          Ext2Xattr.layout(attributes, into: &region, entries: 4, valueBase: 4, hashes: false)
            != nil
        else { throw .ENOSPC }
      }
      for (i, byte) in region.enumerated() { core.raw[start + i] = byte }
      core.disk.tail = Array(core.raw[128...])
    }
  }

  /// Writes the block's attributes: in place, in a new block, or none.
  private func writeXattrBlock(
    _ inode: Inode, _ core: Ext2InodeCore, _ attributes: [Ext2Xattr.Attribute]
  )
    throws(Errno)
  {
    let old = core.lock.withLock { core.disk.fileACL }
    if attributes.isEmpty {
      if old != 0 { releaseXattrBlock(core) }
      return
    }
    var region = [UInt8](repeating: 0, count: superBlock.blockSize)
    guard
      let hashes = Ext2Xattr.layout(
        attributes, into: &region, entries: Ext2Xattr.headerSize, valueBase: 0, hashes: true)
    else { throw .ENOSPC }
    // ext2_xattr_rehash(): the block's hash from its entries'.
    var blockHash: UInt32 = 0
    for hash in hashes {
      if hash == 0 {
        blockHash = 0
        break
      }
      blockHash = (blockHash << 16) ^ (blockHash >> 16) ^ hash
    }
    Ext2Bytes.put32(&region, 0, Ext2Xattr.magic)
    Ext2Bytes.put32(&region, 4, 1)  // h_refcount
    Ext2Bytes.put32(&region, 8, 1)  // h_blocks
    Ext2Bytes.put32(&region, 12, blockHash)
    if old != 0, (try? readXattrBlock(old))?.refcount == 1 {
      let bh = try disk.buffer(old)
      try bh.replace(at: 0, with: region)
      bh.release()
      return
    }
    // A new block near the inode; a shared one loses this inode's reference.
    let group = (core.ino - 1) / superBlock.inodesPerGroup
    let block = try newBlock(goal: superBlock.groupFirstBlock(group))
    let bh = try disk.zeroedBuffer(block)
    try bh.replace(at: 0, with: region)
    bh.release()
    if old != 0 { releaseXattrBlock(core) }
    let sectors = UInt32(superBlock.blockSize / 512)
    core.lock.withLock {
      core.disk.fileACL = block
      core.disk.blocks &+= sectors
    }
  }
}
