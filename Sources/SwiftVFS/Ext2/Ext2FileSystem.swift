// ext2 as a FileSystemType (fs/ext2/super.c, inode.c, namei.c, dir.c,
// file.c), written against SwiftVFS's public API only, as an outside file
// system author would write it. This step reads: the type is read-only.
//
// Invariant: one VFS `Inode` per disk inode while anything holds it
// (`Ext2FileSystemInfo.inodes`, the kernel's inode hash under iget_locked()),
// so hard links share attributes and the dcache sees one object. Inodes are
// made on demand and dropped when the VFS lets go (weak entries); the
// superblock does not index them (`indexesInodes: false`).
//
// Locking: `Ext2FileSystemInfo.lock` guards the inode table only; disk reads
// run outside it. On-disk metadata read at mount (superblock, group
// descriptors) never changes in this read-only step.

import SwiftVFSBlock
import SwiftVFSCore

/// ext2 (file_system_type "ext2"): mounts an image given as `source=PATH`.
///
/// Options: `source=` (the image), `acl` / `noacl` (POSIX ACLs; the default
/// comes from the superblock's s_default_mount_opts, as in ext2_fill_super()),
/// `minixdf` (statfs counts every block, like ext2's option).
public final class Ext2FileSystem: FileSystemType {
  /// "ext2".
  public let name = "ext2"
  /// This step only reads: every change is EROFS.
  public let readOnly = true
  /// EXT2_SUPER_MAGIC, as statfs reports f_type.
  public static let magic: UInt64 = 0xEF53

  /// The ext2 type, to register with `VFS.filesystems`.
  public init() {}

  /// Like ext2_fill_super(): reads and checks the superblock and group
  /// descriptors, then the root inode. A missing `source=` or an image that
  /// is not a valid ext2 is EINVAL; the image's own open errors pass through.
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    guard let source = context.source, !source.isEmpty else { throw .EINVAL }
    let image = try ImageFile(path: source, readOnly: true)
    let device = try BlockDevice(
      name: "ext2-image", dev: try DevT(major: BlockDeviceRegistry.loopMajor, minor: 0),
      driver: image, readOnly: true)
    let raw: [UInt8]
    do {
      raw = try Ext2Disk.readBytes(
        device, at: UInt64(Ext2SuperBlock.offset), count: Ext2SuperBlock.size)
    } catch { throw .EINVAL }  // "unable to read superblock"
    let disk = Ext2SuperBlock(parsing: raw)
    try disk.validate(deviceBytes: device.sizeInBytes)
    let decision = try disk.featureDecision()
    // A read-write mount with unknown RO_COMPAT features is refused, as
    // ext2_fill_super() refuses it; this type only mounts read-only.
    if case .readOnlyOnly = decision, !readOnly, !context.options.flag("ro") {
      throw .EINVAL
    }
    let blocks = Ext2Disk(device: device, blockSize: disk.blockSize, blockCount: disk.blocksCount)
    let groups = try disk.readGroupDescriptors(blocks)

    var posixAcl = disk.defaultMountOptions & Ext2Features.defaultMountACL != 0
    if context.options.flag("acl") { posixAcl = true }
    if context.options.flag("noacl") { posixAcl = false }
    let info = Ext2FileSystemInfo(
      superBlock: disk, groups: groups, disk: blocks, featureDecision: decision,
      posixAcl: posixAcl, minixDF: context.options.flag("minixdf"))
    let sb = SuperBlock(
      fsType: self, ops: Ext2SuperOperations(info: info), context: context,
      magic: Ext2FileSystem.magic, blockSize: disk.blockSize,
      maxFileSize: Ext2FileSystem.maxFileSize(blockSize: disk.blockSize),
      indexesInodes: false)
    sb.posixAcl = posixAcl
    sb.privateData = info
    info.superBlockRef = sb
    let root: Inode
    do {
      root = try info.iget(Ext2SuperBlock.rootIno)
    } catch { throw .EINVAL }
    // "corrupt root inode, run e2fsck"
    let rootDisk = try info.diskInode(of: root)
    guard root.isDirectory, rootDisk.blocks != 0, rootDisk.size != 0 else { throw .EINVAL }
    sb.setRoot(root)
    return sb
  }

  /// ext2_max_size(): what triple indirection reaches, capped so that
  /// i_blocks (512-byte sectors, 32 bits) can count the file and its
  /// indirect blocks.
  public static func maxFileSize(blockSize: Int) -> Int64 {
    let bits = Int64(blockSize.trailingZeroBitCount)
    var upper: Int64 = (1 << 32) - 1
    upper >>= bits - 9
    var meta: Int64 = 1
    meta += 1 + (1 << (bits - 2))
    meta += 1 + (1 << (bits - 2)) + (1 << (2 * (bits - 2)))
    upper -= meta
    upper <<= bits
    var result: Int64 = 12
    result += 1 << (bits - 2)
    result += 1 << (2 * (bits - 2))
    result += 1 << (3 * (bits - 2))
    result <<= bits
    return min(result, upper)
  }

  /// The superblock report of a mounted ext2 (like `dumpe2fs -h`), or nil
  /// if `sb` is not ext2. For /proc.
  public static func report(_ sb: SuperBlock) -> String? {
    guard let info = sb.privateData as? Ext2FileSystemInfo else { return nil }
    return info.report()
  }

  /// What the feature flags of a mounted ext2 allow (nil if not ext2): the
  /// decision the write step must honour.
  public static func featureDecision(_ sb: SuperBlock) -> Ext2SuperBlock.FeatureDecision? {
    (sb.privateData as? Ext2FileSystemInfo)?.featureDecision
  }
}

/// A weak reference, for the inode table.
private struct WeakInode {
  weak var inode: Inode?
}

/// The per-inode data ext2 keeps (struct ext2_inode_info): the disk inode.
final class Ext2InodeInfo: Sendable {
  let ino: UInt32
  let disk: Ext2Inode

  init(ino: UInt32, disk: Ext2Inode) {
    self.ino = ino
    self.disk = disk
  }
}

/// A mounted ext2's own state (struct ext2_sb_info).
final class Ext2FileSystemInfo: @unchecked Sendable {
  let superBlock: Ext2SuperBlock
  let groups: [Ext2GroupDescriptor]
  let disk: Ext2Disk
  let featureDecision: Ext2SuperBlock.FeatureDecision
  let posixAcl: Bool
  let minixDF: Bool
  /// The VFS superblock, set once at mount (it owns this object).
  weak var superBlockRef: SuperBlock?

  private let lock = Lock()
  private var inodes: [UInt32: WeakInode] = [:]
  private var insertionsSincePurge = 0

  init(
    superBlock: Ext2SuperBlock, groups: [Ext2GroupDescriptor], disk: Ext2Disk,
    featureDecision: Ext2SuperBlock.FeatureDecision, posixAcl: Bool, minixDF: Bool
  ) {
    self.superBlock = superBlock
    self.groups = groups
    self.disk = disk
    self.featureDecision = featureDecision
    self.posixAcl = posixAcl
    self.minixDF = minixDF
  }

  /// The disk inode behind a VFS inode of this file system.
  func diskInode(of inode: Inode) throws(Errno) -> Ext2Inode {
    guard let info = inode.privateData as? Ext2InodeInfo else { throw .EIO }
    return info.disk
  }

  /// The disk inode number behind a VFS inode (what st_ino shows).
  func diskNumber(of inode: Inode) -> UInt32? {
    (inode.privateData as? Ext2InodeInfo)?.ino
  }

  /// Like ext2_iget(): the VFS inode for disk inode `ino`, made from the
  /// inode table on first use. A deleted inode (no links and a dtime or no
  /// mode) is ESTALE; an unknown file type is EUCLEAN.
  func iget(_ ino: UInt32) throws(Errno) -> Inode {
    if let cached = lock.withLock({ inodes[ino]?.inode }) { return cached }
    guard let sb = superBlockRef else { throw .EIO }
    let disk = try readDiskInode(ino)
    if disk.linksCount == 0 && (disk.mode == 0 || disk.dtime != 0) { throw ESTALE_ }
    guard let type = disk.fileType else { throw EFSCORRUPTED }
    var rdev = DevT.zero
    if type == .characterDevice || type == .blockDevice {
      rdev = try Ext2DeviceNumber.decode(disk.block)
    }
    var acl: PosixAcl?
    var defaultAcl: PosixAcl?
    if posixAcl, disk.fileACL != 0 || disk.extraSize > 0 {
      // Read once here, as the kernel caches i_acl on first use; an ACL
      // that does not parse is left out (the kernel's get_acl fails then).
      if let attributes = try? readXattrs(disk) {
        for a in attributes where a.index == Ext2Xattr.aclAccessIndex {
          acl = try? Ext2Xattr.aclFromDisk(a.value)
        }
        for a in attributes where a.index == Ext2Xattr.aclDefaultIndex && type == .directory {
          defaultAcl = try? Ext2Xattr.aclFromDisk(a.value)
        }
      }
    }
    let ops = Ext2InodeOperations(info: self)
    let inode = try sb.newInode(
      mode: UInt32(disk.mode), cred: Cred(uid: disk.uid, gid: disk.gid), rdev: rdev, ops: ops,
      fileOps: Ext2FileOperations(info: self))
    inode.lock.withLock {
      inode.nlink = UInt32(disk.linksCount)
      inode.size = Int64(clamping: disk.size)
      inode.blocks = Int64(disk.blocks)
      inode.atime = disk.atime
      inode.mtime = disk.mtime
      inode.ctime = disk.ctime
      inode.attributeFlags = InodeFlags(rawValue: disk.flags & Ext2InodeOperations.userVisibleFlags)
      inode.acl = acl
      inode.defaultAcl = defaultAcl
      inode.privateData = Ext2InodeInfo(ino: ino, disk: disk)
    }
    return lock.withLock {
      // Another thread may have made it meanwhile: keep the first.
      if let raced = inodes[ino]?.inode { return raced }
      inodes[ino] = WeakInode(inode: inode)
      insertionsSincePurge += 1
      if insertionsSincePurge > 4096 {
        inodes = inodes.filter { $0.value.inode != nil }
        insertionsSincePurge = 0
      }
      return inode
    }
  }
}

/// The superblock operations (ext2_sops): statfs from the group descriptors.
struct Ext2SuperOperations: SuperOperations {
  let info: Ext2FileSystemInfo

  /// Like ext2_statfs(): f_blocks less the metadata overhead (unless
  /// minixdf), free counts summed over the group descriptors (as
  /// ext2_count_free_blocks() sums them), f_bavail less the reserved blocks.
  func statfs(_ sb: SuperBlock) -> StatFS {
    let d = info.superBlock
    var overhead: UInt64 = 0
    if !info.minixDF {
      let descriptorBlocks =
        (UInt64(d.groupCount) + UInt64(d.descriptorsPerBlock) - 1)
        / UInt64(d.descriptorsPerBlock)
      overhead = UInt64(d.firstDataBlock)
      for group in 0..<d.groupCount where d.groupHasSuper(group) {
        overhead += 1 + descriptorBlocks  // ext2_bg_has_super() + ext2_bg_num_gdb()
      }
      overhead += UInt64(d.groupCount) * (2 + UInt64(d.inodeTableBlocksPerGroup))
    }
    let free = info.groups.reduce(UInt64(0)) { $0 + UInt64($1.freeBlocksCount) }
    let freeInodes = info.groups.reduce(UInt64(0)) { $0 + UInt64($1.freeInodesCount) }
    let total = UInt64(d.blocksCount)
    let reserved = UInt64(d.reservedBlocksCount)
    // StatFS has no public initializer: start from Simple's and set every field.
    var st = Simple.statfs(sb)
    st.blockSize = UInt64(d.blockSize)
    st.blocks = total > overhead ? total - overhead : 0
    st.blocksFree = free
    st.blocksAvailable = free > reserved ? free - reserved : 0
    st.files = UInt64(d.inodesCount)
    st.filesFree = freeInodes
    st.nameMax = 255  // EXT2_NAME_LEN
    return st
  }
}

/// The inode operations (ext2_dir_inode_operations, ext2_file_inode_operations,
/// ext2_symlink_inode_operations, ext2_special_inode_operations in one):
/// lookup, readlink, getattr and xattrs. Every change is EROFS before it gets here.
struct Ext2InodeOperations: InodeOperations {
  /// EXT2_FL_USER_VISIBLE: the i_flags bits lsattr shows.
  static let userVisibleFlags: UInt32 = 0x0004_BFFF
  let info: Ext2FileSystemInfo

  /// Like ext2_lookup(): the entry's inode; an entry naming a deleted inode
  /// is EIO ("deleted inode referenced"), as the kernel answers.
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    let disk = try info.diskInode(of: dir)
    guard let ino = try info.findEntry(disk, name.bytes) else { return nil }
    do {
      return try info.iget(ino)
    } catch  where error == ESTALE_ {
      throw .EIO
    }
  }

  /// A symlink's target (ext2_get_link / page_get_link).
  func readlink(_ inode: Inode) throws(Errno) -> [UInt8] {
    guard inode.type == .symlink else { throw .EINVAL }
    return try info.symlinkTarget(try info.diskInode(of: inode))
  }

  /// Like ext2_getattr(): the inode's fields, with the disk's inode number
  /// as st_ino (what the kernel shows).
  func getattr(_ inode: Inode) throws(Errno) -> Stat {
    var st = Simple.getattr(inode)
    if let ino = info.diskNumber(of: inode) { st.ino = UInt64(ino) }
    return st
  }

  /// Like ext2_xattr_get(): the value of `name` (ENODATA if absent). ACLs
  /// are the VFS's (from `Inode.acl`), never asked here.
  func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8] {
    guard !name.isEmpty, name.utf8.count <= 255 else { throw .ERANGE }
    guard ["user.", "trusted.", "security."].contains(where: { name.hasPrefix($0) }) else {
      throw .EOPNOTSUPP
    }
    let attributes = try info.readXattrs(try info.diskInode(of: inode))
    guard let found = attributes.first(where: { $0.name == name }) else { throw .ENODATA }
    return found.value
  }

  /// Like ext2_listxattr(): the names held, ACLs left to the VFS.
  func listxattr(_ inode: Inode) throws(Errno) -> [String] {
    try info.readXattrs(try info.diskInode(of: inode))
      .filter { $0.index != Ext2Xattr.aclAccessIndex && $0.index != Ext2Xattr.aclDefaultIndex }
      .map(\.name)
  }

  /// Like ext2_fileattr_get(): i_flags & EXT2_FL_USER_VISIBLE.
  func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags {
    inode.lock.withLock { inode.attributeFlags }
  }
}

/// The file operations (ext2_file_operations, ext2_dir_operations): read
/// for regular files, iterate for directories.
struct Ext2FileOperations: FileOperations {
  let info: Ext2FileSystemInfo

  /// Like generic_file_read_iter() over ext2_get_block(): holes are zeros.
  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard file.inode.type == .regular else {
      throw file.inode.isDirectory ? .EISDIR : .EINVAL
    }
    return try info.readData(
      try info.diskInode(of: file.inode), at: UInt64(offset), into: buffer)
  }

  /// Like ext2_readdir(): every used record from cookie `offset` on, "."
  /// and ".." included as the disk holds them; a cookie is the byte offset
  /// of the next record. Each entry carries its inode (for readdirplus)
  /// unless that inode cannot be read.
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    guard file.inode.isDirectory else { throw .ENOTDIR }
    let disk = try info.diskInode(of: file.inode)
    try info.readDirectory(disk, from: UInt64(offset)) { entry throws(Errno) in
      guard let name = try? FileName(entry.name) else { return true }  // unshowable: skip
      let next = Int64(entry.position) + Int64(entry.recordLength)
      if name.isDotOrDotDot {
        return emit(
          DirEntry(name: name, ino: UInt64(entry.ino), type: .directory, offset: next, inode: nil))
      }
      let inode = try? info.iget(entry.ino)
      let type = Ext2DirEntry.type(fromDisk: entry.fileType) ?? inode?.type ?? .regular
      return emit(
        DirEntry(name: name, ino: UInt64(entry.ino), type: type, offset: next, inode: inode))
    }
  }
}
