// ext2 as a FileSystemType (fs/ext2/super.c, inode.c, namei.c, dir.c,
// file.c), written against SwiftVFS's public API only, as an outside file
// system author would write it. It reads and writes: metadata through a
// BufferCache, file data through one AddressSpace per inode, both in one
// PageCache per superblock, written back by its flusher, on fsync, syncfs
// and at unmount (put_super).
//
// Invariant: one VFS `Inode` per disk inode while anything holds it
// (`Ext2FileSystemInfo.inodes`, the kernel's inode hash under iget_locked()),
// so hard links share attributes and the dcache sees one object. On a
// read-write mount the table also holds each inode strongly until the next
// sync has written it (the VFS changes times and modes in the Inode without
// telling the file system: write_inode() catches them then).
//
// Locking, outermost first: the VFS's namespace lock (every directory
// change), an inode's `ioLock` (write and truncate of one file, i_rwsem),
// `allocLock` (bitmaps, group descriptors, free counts, like s_lock and the
// group locks), then leaf locks: an inode core's `lock`, the inode table's
// `lock`, the caches' own. Page reads and writeback (Ext2AddressSpace) take
// only leaf locks, so a writer that pushes the cache into writeback never
// waits for itself.

import SwiftVFSBlock
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// ext2 (file_system_type "ext2"): mounts an image given as `source=PATH`.
///
/// Options: `source=` (the image), `ro` (read-only; read-write is the
/// default), `cache_size=` (the page cache's bound in bytes, K/M/G allowed),
/// `acl` / `noacl` (POSIX ACLs; the default comes from the superblock's
/// s_default_mount_opts, as in ext2_fill_super()), `minixdf` (statfs counts
/// every block, like ext2's option).
public final class Ext2FileSystem: FileSystemType {
  /// "ext2".
  public let name = "ext2"
  /// ext2 writes: a mount is read-write unless `ro` is given.
  public let readOnly = false
  /// EXT2_SUPER_MAGIC, as statfs reports f_type.
  public static let magic: UInt64 = 0xEF53

  /// The ext2 type, to register with `VFS.filesystems`.
  public init() {}

  /// The page cache a mount uses: the VFS's one (`PageCache.of(vfs)`, whose
  /// counters /proc/meminfo and /proc/vmstat show, and which drop_caches
  /// shrinks), bounded by `-o cache_size=` when given (the last mount to
  /// give one sets it for the whole VFS; default
  /// `PageCache.defaultCapacityBytes`). A bad size is EINVAL.
  public static func pageCache(for context: MountContext) throws(Errno) -> PageCache {
    let cache = PageCache.of(context.vfs)
    if let text = context.options.value("cache_size") {
      cache.capacityBytes = try PageCache.parseCacheSize(text)
    }
    return cache
  }

  /// The most inodes a mount keeps in memory for the kernel's lookups
  /// (`SuperBlock.maxCachedInodes`) with a page cache of `cacheBytes`.
  public static func cachedInodes(cacheBytes: Int) -> Int { max(4096, cacheBytes / 16384) }

  /// Like ext2_fill_super(): reads and checks the superblock and group
  /// descriptors, then the root inode. A missing `source=` or an image that
  /// is not a valid ext2 is EINVAL; the image's own open errors pass through.
  /// A read-write mount clears EXT2_VALID_FS on the disk at once
  /// (ext2_setup_super()).
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    guard let source = context.source, !source.isEmpty else { throw .EINVAL }
    let readOnlyMount = context.options.flag("ro")
    let cache = try Ext2FileSystem.pageCache(for: context)
    // The image becomes a loop device of this VFS, as `mount -o loop` makes
    // one: loopN in /proc/partitions and /dev, until the unmount.
    let registry = BlockDeviceRegistry.of(context.vfs)
    let device = try registry.addImageFile(path: source, readOnly: readOnlyMount)
    var mounted = false
    defer { if !mounted { _ = try? registry.deleteDisk(device.dev) } }
    let raw: [UInt8]
    do {
      raw = try Ext2Disk.readBytes(
        device, at: UInt64(Ext2SuperBlock.offset), count: Ext2SuperBlock.size)
    } catch { throw .EINVAL }  // "unable to read superblock"
    let disk = Ext2SuperBlock(parsing: raw)
    try disk.validate(deviceBytes: device.sizeInBytes)
    let decision = try disk.featureDecision()
    // A read-write mount with unknown RO_COMPAT features is refused, as
    // ext2_fill_super() refuses it ("couldn't mount RDWR").
    if case .readOnlyOnly = decision, !readOnlyMount { throw .EINVAL }
    let buffers: BufferCache
    do {
      buffers = try BufferCache(cache: cache, device: device, blockSize: disk.blockSize)
    } catch { throw .EINVAL }
    let blocks = Ext2Disk(
      device: device, buffers: buffers, blockSize: disk.blockSize, blockCount: disk.blocksCount)
    let groups = try disk.readGroupDescriptors(blocks)

    var posixAcl = disk.defaultMountOptions & Ext2Features.defaultMountACL != 0
    if context.options.flag("acl") { posixAcl = true }
    if context.options.flag("noacl") { posixAcl = false }
    let info = Ext2FileSystemInfo(
      superBlock: disk, groups: groups, disk: blocks, featureDecision: decision,
      posixAcl: posixAcl, minixDF: context.options.flag("minixdf"), readOnly: readOnlyMount)
    let sb = SuperBlock(
      fsType: self, ops: Ext2SuperOperations(info: info), context: context,
      magic: Ext2FileSystem.magic, blockSize: disk.blockSize,
      maxFileSize: Ext2FileSystem.maxFileSize(blockSize: disk.blockSize),
      indexesInodes: false)
    sb.posixAcl = posixAcl
    // The inodes kept for the kernel's lookups, like the page cache bounded
    // by cache_size: one per 16 KiB of it, at least 4,096 (as many for the
    // default 64 MiB; about 2 KiB of daemon memory each).
    sb.maxCachedInodes = Ext2FileSystem.cachedInodes(
      cacheBytes: PageCache.of(context.vfs).capacityBytes)
    sb.privateData = info
    info.superBlockRef = sb
    info.blockDevices = registry
    // Its VFS inode numbers are the disk's, 1 to s_inodes_count (shifted if
    // other superblocks took numbers first): st_ino and, with it at the
    // root, the FUSE node ids, so a file handle still names the inode after
    // the kernel forgot it (Ext2Export.swift). The inodes of /dev and /proc
    // in the same tree take theirs above.
    sb.useOwnInodeNumbers(count: UInt64(disk.inodesCount))
    let root: Inode
    do {
      root = try info.iget(Ext2SuperBlock.rootIno)
    } catch { throw .EINVAL }
    // "corrupt root inode, run e2fsck"
    let rootDisk = try info.diskInode(of: root)
    guard root.isDirectory, rootDisk.blocks != 0, rootDisk.size != 0 else { throw .EINVAL }
    sb.setRoot(root)
    // The flusher starts at the first change (markDirty), in the process
    // that serves: vfsmount forks into the background after mounting.
    if !readOnlyMount { try info.setupSuper() }
    // /proc/vfs/superblocks: this superblock as dumpe2fs -h shows it, live.
    let sections = context.vfs.procSections
    sections.register(file: "superblocks", key: device.name) { [weak info] in
      guard let info else { return "" }
      return "ext2 on \(device.name) (\(source))\n" + info.report() + "\n"
    }
    info.procSections = sections
    mounted = true
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

/// An entry of the inode table: weak, and strong until written (read-write).
/// A class, never changed once made (a change makes a new slot), so reading
/// one out of the dictionary retains the slot instead of copying its weak
/// reference (swift_weakCopyInit, then swift_weakDestroy: a fifth of the CPU
/// of listing a directory of cached inodes).
private final class InodeSlot {
  weak var inode: Inode?
  let pinned: Inode?

  init(inode: Inode, pinned: Inode?) {
    self.inode = inode
    self.pinned = pinned
  }
}

/// The state of one disk inode that ext2 changes (struct ext2_inode_info):
/// the disk inode as last written, its raw bytes, the allocation goal.
/// Shared by the VFS inode and its address space.
final class Ext2InodeCore: @unchecked Sendable {
  let ino: UInt32
  /// Guards `disk`, `raw`, `goal`, the directory hints, `freed` (a leaf lock).
  let lock = Lock()
  /// i_rwsem with the invalidate lock: a write or truncate of this file
  /// holds it exclusively, a read shares it, so no read maps a block that a
  /// truncate is freeing (and caches another file's bytes in this file).
  let ioLock = RWLock()
  /// One write_inode() of this inode at a time, so an older copy never
  /// lands after a newer one. Taken outside `lock`; page I/O never takes it.
  let writeLock = Lock()
  var disk: Ext2Inode
  var raw: [UInt8]
  /// i_next_alloc_goal: the block after the last one allocated.
  var goal: UInt32 = 0
  /// i_dir_start_lookup: the directory block where the last name was found.
  var dirStartLookup: UInt64 = 0
  /// What the last ext2_add_link() learned: no directory block below
  /// `noRoomBelow` has a free slot of `noRoomSize` bytes or more.
  var noRoomBelow: UInt64 = 0
  var noRoomSize = Int.max
  /// Whether eviction gave the inode back to the bitmap.
  var freed = false
  /// The ACLs as the disk holds them (to notice the VFS's changes).
  var acl: PosixAcl?
  var defaultAcl: PosixAcl?

  init(ino: UInt32, disk: Ext2Inode, raw: [UInt8]) {
    self.ino = ino
    self.disk = disk
    self.raw = raw
  }

  /// A copy of the disk inode.
  var snapshot: Ext2Inode { lock.withLock { disk } }
}

/// What a VFS inode of ext2 carries (its privateData): the core and, for a
/// regular file, its pages.
final class Ext2InodeInfo: Sendable {
  let core: Ext2InodeCore
  let mapping: AddressSpace?
  var ino: UInt32 { core.ino }

  init(core: Ext2InodeCore, mapping: AddressSpace?) {
    self.core = core
    self.mapping = mapping
  }
}

/// A mounted ext2's own state (struct ext2_sb_info).
final class Ext2FileSystemInfo: @unchecked Sendable {
  /// The superblock as read at mount (geometry; the counts below are live).
  let superBlock: Ext2SuperBlock
  let disk: Ext2Disk
  let featureDecision: Ext2SuperBlock.FeatureDecision
  let posixAcl: Bool
  let minixDF: Bool
  let readOnly: Bool
  /// The VFS superblock, set once at mount (it owns this object).
  weak var superBlockRef: SuperBlock?
  /// Where the image is added as a loop device; it leaves at put_super.
  var blockDevices: BlockDeviceRegistry?
  /// Where the superblock report is shown (/proc/vfs/superblocks); it leaves at put_super.
  var procSections: ProcSections?

  /// Guards the group table and the superblock's live fields.
  let allocLock = Lock()
  var groupTable: [Ext2GroupDescriptor]
  var freeBlocks: UInt32
  var freeInodes: UInt32
  var state: UInt16
  var unmounted = false
  /// Groups whose block bitmap passed ext2_valid_block_bitmap().
  var validatedGroups: Set<UInt32> = []
  /// The descriptor blocks' buffers, held once used (sbi->s_group_desc).
  var descriptorBuffers: [BufferHead?] = []
  /// Random i_generation values drawn ahead, and the next one to hand out
  /// (guarded by `allocLock`).
  var generationBatch: [UInt32] = []
  var generationNext = 0

  private let lock = Lock()
  private var inodes: [UInt32: InodeSlot] = [:]
  private var insertionsSincePurge = 0
  /// The slots with a strong reference (guarded by `lock`).
  private var pinnedCount = 0

  init(
    superBlock: Ext2SuperBlock, groups: [Ext2GroupDescriptor], disk: Ext2Disk,
    featureDecision: Ext2SuperBlock.FeatureDecision, posixAcl: Bool, minixDF: Bool,
    readOnly: Bool
  ) {
    self.superBlock = superBlock
    self.groupTable = groups
    self.disk = disk
    self.featureDecision = featureDecision
    self.posixAcl = posixAcl
    self.minixDF = minixDF
    self.readOnly = readOnly
    // Like ext2_count_free_blocks(): the sums over the descriptors are the truth.
    freeBlocks = groups.reduce(0) { $0 &+ UInt32($1.freeBlocksCount) }
    freeInodes = groups.reduce(0) { $0 &+ UInt32($1.freeInodesCount) }
    state = superBlock.state
  }

  /// The group descriptors now.
  var groups: [Ext2GroupDescriptor] { allocLock.withLock { groupTable } }

  /// The first block of group `group`'s inode table, nil past the groups.
  func inodeTableBlock(group: UInt32) -> UInt32? {
    allocLock.withLock { Int(group) < groupTable.count ? groupTable[Int(group)].inodeTable : nil }
  }

  /// The core behind a VFS inode of this file system.
  func core(of inode: Inode) throws(Errno) -> Ext2InodeCore {
    guard let info = inode.privateData as? Ext2InodeInfo else { throw .EIO }
    return info.core
  }

  /// The disk inode behind a VFS inode of this file system (a copy).
  func diskInode(of inode: Inode) throws(Errno) -> Ext2Inode {
    try core(of: inode).snapshot
  }

  /// The disk inode number behind a VFS inode (what st_ino shows).
  func diskNumber(of inode: Inode) -> UInt32? {
    (inode.privateData as? Ext2InodeInfo)?.ino
  }

  /// Like ext2_iget(): the VFS inode for disk inode `ino`, made from the
  /// inode table on first use. A deleted inode (no links and a dtime or no
  /// mode) is ESTALE; an unknown file type is EUCLEAN.
  func iget(_ ino: UInt32) throws(Errno) -> Inode {
    if let cached = lock.withLock({ cachedInodeLocked(ino) }) { return cached }
    let raw = try readRawInode(ino)
    let disk = try Ext2Inode(parsing: raw, inodeSize: superBlock.inodeSize)
    if disk.linksCount == 0 && (disk.mode == 0 || disk.dtime != 0) { throw ESTALE_ }
    guard disk.fileType != nil else { throw EFSCORRUPTED }
    return try instantiate(Ext2InodeCore(ino: ino, disk: disk, raw: raw))
  }

  /// The table's inode `ino`, if alive (the caller holds `lock`): the
  /// strong `pinned` reference first, which needs no weak load.
  private func cachedInodeLocked(_ ino: UInt32) -> Inode? {
    guard let slot = inodes[ino] else { return nil }
    return slot.pinned ?? slot.inode
  }

  /// Makes the VFS inode of `core` and enters it in the table (the first
  /// made wins a race).
  func instantiate(_ core: Ext2InodeCore) throws(Errno) -> Inode {
    guard let sb = superBlockRef else { throw .EIO }
    let disk = core.snapshot
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
      number: UInt64(core.ino), generation: UInt64(disk.generation), mode: UInt32(disk.mode),
      cred: Cred(uid: disk.uid, gid: disk.gid), rdev: rdev, ops: ops,
      fileOps: Ext2FileOperations(info: self))
    var mapping: AddressSpace?
    if type == .regular {
      mapping = AddressSpace(
        cache: self.disk.cache, ino: UInt64(core.ino),
        operations: Ext2AddressSpace(info: self, core: core), device: self.disk.device)
    }
    inode.lock.withLock {
      inode.nlink = UInt32(disk.linksCount)
      inode.size = Int64(clamping: disk.size)
      inode.blocks = Int64(disk.blocks)
      inode.atime = disk.atime
      inode.mtime = disk.mtime
      inode.ctime = disk.ctime
      // statx's btime, as the ext4 driver that serves ext2 here shows it.
      inode.btime = disk.crtime
      inode.attributeFlags = InodeFlags(rawValue: disk.flags & Ext2InodeOperations.userVisibleFlags)
      inode.acl = acl
      inode.defaultAcl = defaultAcl
      inode.privateData = Ext2InodeInfo(core: core, mapping: mapping)
    }
    core.lock.withLock {
      core.acl = acl
      core.defaultAcl = defaultAcl
    }
    return lock.withLock {
      // Another thread may have made it meanwhile: keep the first.
      if let raced = inodes[core.ino]?.inode { return raced }
      if inodes[core.ino]?.pinned == nil, !readOnly { pinnedCount += 1 }
      inodes[core.ino] = InodeSlot(inode: inode, pinned: readOnly ? nil : inode)
      insertionsSincePurge += 1
      if insertionsSincePurge > 4096 {
        inodes = inodes.filter { $0.value.inode != nil }
        insertionsSincePurge = 0
      }
      return inode
    }
  }

  /// Drops a freed inode from the table, so its number can name a new one
  /// (the inode hash's remove_inode_hash() at eviction).
  func unhash(_ inode: Inode, ino: UInt32) {
    lock.withLock {
      if let slot = inodes[ino], slot.inode === inode || slot.inode == nil {
        if slot.pinned != nil { pinnedCount = max(0, pinnedCount - 1) }
        inodes[ino] = nil
      }
    }
  }

  /// Pins `inode` in the table until the next sync writes it (mark_inode_dirty()).
  /// An inode already freed (ext2_evict_inode() ran) is left alone: its
  /// number may name a new inode by now, whose slot it must not take. With
  /// the kernel's writeback cache a SETATTR of times can reach an inode
  /// after a rename dropped its last link and it was freed.
  func markDirty(_ inode: Inode) {
    guard let ino = diskNumber(of: inode), let core = try? core(of: inode) else { return }
    let many = lock.withLock { () -> Bool? in
      // core.lock is a leaf lock; deleteInode sets `freed` before unhash().
      if core.lock.withLock({ core.freed }) { return nil }
      if inodes[ino]?.pinned == nil { pinnedCount += 1 }
      inodes[ino] = InodeSlot(inode: inode, pinned: inode)
      return pinnedCount > Ext2FileSystemInfo.maxPinnedInodes
    }
    guard let many else { return }
    disk.cache.startFlusher()
    // Bounded memory: past the bound, the pinned inodes are written into
    // their buffers (which writeback then takes) and let go.
    if many { try? writeAllInodes(freeOrphans: false, everyLive: false) }
  }

  /// Unpins `inode` before it is written (its fields go to the inode table
  /// now, as a sync would write them); a change after this pins it again.
  func unpin(_ inode: Inode) {
    guard let ino = diskNumber(of: inode) else { return }
    lock.withLock {
      guard let slot = inodes[ino], slot.pinned === inode else { return }
      inodes[ino] = InodeSlot(inode: inode, pinned: nil)
      pinnedCount = max(0, pinnedCount - 1)
    }
  }

  /// The most inodes pinned between syncs before they are written and let go.
  static let maxPinnedInodes = 4096

  /// Like ext2_write_inode(): the VFS inode's attributes into the disk
  /// inode, and its bytes into the inode table's buffer. An inode freed by
  /// eviction is not written again. With `deletedAt`, this is the inode's
  /// last write (ext2_evict_inode()): i_dtime set, no links, size 0, and
  /// the core marked freed, in the same pass.
  func writeInode(_ inode: Inode, deletedAt: UInt32? = nil) throws(Errno) {
    let core = try core(of: inode)
    if posixAcl, !readOnly { try syncAcls(inode, core) }
    try core.writeLock.withLock { () throws(Errno) in
      let (mode, uid, gid, nlink, size, atime, mtime, ctime) = inode.lock.withLock {
        (
          inode.mode, inode.uid, inode.gid, inode.nlink, inode.size, inode.atime, inode.mtime,
          inode.ctime
        )
      }
      let raw = core.lock.withLock { () -> [UInt8]? in
        guard !core.freed else { return nil }
        core.disk.mode = UInt16(truncatingIfNeeded: mode)
        core.disk.uid = uid
        core.disk.gid = gid
        core.disk.linksCount = UInt16(clamping: nlink)
        core.disk.size = UInt64(max(0, size))
        core.disk.atime = atime
        core.disk.mtime = mtime
        core.disk.ctime = ctime
        if let deletedAt {
          core.disk.dtime = deletedAt
          core.disk.linksCount = 0
          core.disk.size = 0
          core.freed = true
        }
        core.disk.encode(into: &core.raw)
        return core.raw
      }
      guard let raw else { return }
      try writeRawInode(core.ino, raw)
    }
  }

  /// Like ext2_set_acl(): the ACLs the VFS set on `inode` (it keeps them in
  /// the Inode) into the xattr block, when they differ from the disk's.
  func syncAcls(_ inode: Inode, _ core: Ext2InodeCore) throws(Errno) {
    let (acl, defaultAcl) = inode.lock.withLock { (inode.acl, inode.defaultAcl) }
    let (oldAcl, oldDefault, freed) = core.lock.withLock { (core.acl, core.defaultAcl, core.freed) }
    guard !freed, acl != oldAcl || defaultAcl != oldDefault else { return }
    core.lock.withLock {
      core.acl = acl
      core.defaultAcl = defaultAcl
    }
    for (index, new, old) in [
      (Ext2Xattr.aclAccessIndex, acl, oldAcl), (Ext2Xattr.aclDefaultIndex, defaultAcl, oldDefault),
    ] where new != old {
      do {
        try setXattr(
          inode, index: index, suffix: [], value: new.map(Ext2Xattr.aclToDisk), flags: [])
      } catch  where error == .ENODATA {}
    }
  }

  /// The VFS inode's i_blocks from the core's (after an allocation or a free).
  func syncBlocks(_ inode: Inode, _ core: Ext2InodeCore) {
    let blocks = core.lock.withLock { core.disk.blocks }
    inode.lock.withLock { inode.blocks = Int64(blocks) }
  }

  /// Writes every inode the table holds, pinned or alive elsewhere, and
  /// unpins them (the sync of write_inode() for each dirty inode: the VFS
  /// changes some fields, an ACL or a killed setuid bit, without telling the
  /// file system, so every live inode is compared with its disk copy; only
  /// a changed one dirties its buffer). With `freeOrphans`, an inode that
  /// has no links left (unlinked while open, never evicted) is freed, as at
  /// unmount.
  func writeAllInodes(freeOrphans: Bool, everyLive: Bool = true) throws(Errno) {
    let pinned = lock.withLock { () -> [Inode] in
      var list: [Inode] = []
      for (ino, slot) in inodes {
        guard let inode = slot.pinned ?? (everyLive ? slot.inode : nil) else { continue }
        list.append(inode)
        if slot.pinned != nil { inodes[ino] = InodeSlot(inode: inode, pinned: nil) }
      }
      pinnedCount = 0
      return list
    }
    var failure: Errno?
    for inode in pinned {
      do {
        if freeOrphans, inode.lock.withLock({ inode.nlink == 0 }) {
          try deleteInode(inode)
        } else {
          try writeInode(inode)
        }
      } catch { failure = error }
    }
    if let failure { throw failure }
  }

  /// Like ext2_sync_fs(): every inode, then every dirty page and buffer.
  func syncAll() throws(Errno) {
    guard !readOnly else { return }
    try writeAllInodes(freeOrphans: false)
    try writeSuper()
    try disk.cache.syncAll()
  }

  // MARK: - The superblock on the disk

  /// Patches the live fields into the superblock's buffer (ext2_sync_super()):
  /// free counts, state, times, mount count.
  func writeSuper(mountTime: UInt32? = nil, mountCount: UInt16? = nil) throws(Errno) {
    let blockNumber = superBlock.superBlockBlock
    let within = Ext2SuperBlock.offset % superBlock.blockSize
    let (blocks, inodes, state) = allocLock.withLock { (freeBlocks, freeInodes, self.state) }
    let now = UInt32(truncatingIfNeeded: max(0, Timestamp.now.sec))
    let bh = try disk.buffer(blockNumber)
    defer { bh.release() }
    bh.modify { bytes in
      var sb = Array(bytes[within..<within + Ext2SuperBlock.size])
      Ext2Bytes.put32(&sb, 12, blocks)
      Ext2Bytes.put32(&sb, 16, inodes)
      if let mountTime { Ext2Bytes.put32(&sb, 44, mountTime) }
      Ext2Bytes.put32(&sb, 48, now)  // s_wtime
      if let mountCount { Ext2Bytes.put16(&sb, 52, mountCount) }
      Ext2Bytes.put16(&sb, 58, state)
      for (i, byte) in sb.enumerated() { bytes[within + i] = byte }
    }
  }

  /// Like ext2_setup_super() + ext2_sync_super(wait) at a read-write mount:
  /// s_state loses EXT2_VALID_FS (so e2fsck knows to check after a crash),
  /// s_mnt_count goes up, s_mtime is now; written and flushed at once.
  func setupSuper() throws(Errno) {
    allocLock.withLock { state &= ~Ext2SuperBlock.validFS }
    let now = UInt32(truncatingIfNeeded: max(0, Timestamp.now.sec))
    try writeSuper(mountTime: now, mountCount: superBlock.mountCount &+ 1)
    try disk.buffers.sync()
  }

  /// Like ext2_put_super(): writes everything back, marks the file system
  /// clean again (EXT2_VALID_FS, unless it was not clean at mount), and
  /// stops the cache. Once.
  func putSuper() {
    let first = allocLock.withLock { () -> Bool in
      defer { unmounted = true }
      return !unmounted
    }
    guard first else { return }
    if !readOnly {
      var failed = false
      do { try writeAllInodes(freeOrphans: true) } catch { failed = true }
      do { try disk.cache.syncAll() } catch { failed = true }
      if !failed {
        allocLock.withLock { state = superBlock.state }
        try? writeSuper()
      }
    }
    // kill_block_super(): everything is on the disk now. The cache is the
    // VFS's: the unmount writes back all of it (other mounts' dirty pages
    // too, harmless) and empties it, so no page keeps this mount's inodes.
    allocLock.withLock { descriptorBuffers = [] }
    try? disk.cache.shutdown()
    procSections?.unregister(file: "superblocks", key: disk.device.name)
    if let blockDevices { _ = try? blockDevices.deleteDisk(disk.device.dev) }
    lock.withLock {
      inodes = [:]
      pinnedCount = 0
    }
  }
}

extension Ext2SuperBlock {
  /// EXT2_VALID_FS: s_state's "cleanly unmounted" bit.
  static let validFS: UInt16 = 1
}

/// The superblock operations (ext2_sops).
struct Ext2SuperOperations: SuperOperations {
  let info: Ext2FileSystemInfo

  /// Like ext2_statfs(): f_blocks less the metadata overhead (unless
  /// minixdf), free counts from the group descriptors (as
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
    let groups = info.groups
    let free = groups.reduce(UInt64(0)) { $0 + UInt64($1.freeBlocksCount) }
    let freeInodes = groups.reduce(UInt64(0)) { $0 + UInt64($1.freeInodesCount) }
    let total = UInt64(d.blocksCount)
    let reserved = UInt64(d.reservedBlocksCount)
    return StatFS(
      blockSize: UInt64(d.blockSize), blocks: total > overhead ? total - overhead : 0,
      blocksFree: free, blocksAvailable: free > reserved ? free - reserved : 0,
      files: UInt64(d.inodesCount), filesFree: freeInodes, nameMax: 255)  // EXT2_NAME_LEN
  }

  /// The inode shrinker's step for an idle inode the kernel still holds
  /// (prune_icache_sb(): invalidate_mapping_pages(), then write_inode() if
  /// dirty): its dirty pages are written back first, its clean pages go,
  /// and its fields are written into the inode table's buffer (writeback
  /// takes it from there). The kernel's shrinker skips a dirty inode and
  /// leaves it to the flusher; here the cache is all dirty while a tree is
  /// copied, and waiting for the flusher would keep thousands of inodes, so
  /// the shrinker writes the pages itself (as reclaim does with
  /// wakeup_flusher_threads() and waits). One whose pages cannot all go (a
  /// failed write, or pages being read or written) stays. Loaded again by
  /// `inodeForHandle` (ext2_iget()) when the kernel names it.
  func dropInode(_ inode: Inode) -> Bool {
    if let mapping = try? info.mapping(of: inode) {
      if mapping.dirtyPageCount > 0, !mapping.writeDirtyPages() { return false }
      if !mapping.invalidateCleanPages() { return false }
    }
    guard !info.readOnly else { return true }
    // Written now, so the table need not keep it for the next sync.
    info.unpin(inode)
    do {
      try info.writeInode(inode)
      return true
    } catch {
      info.markDirty(inode)
      return false
    }
  }

  /// Like ext2_evict_inode(): an inode with no links left gives back its
  /// blocks and its number (dtime set); any other is written.
  func evictInode(_ inode: Inode) {
    inode.sb.releaseInode()
    guard !info.readOnly else { return }
    if inode.lock.withLock({ inode.nlink == 0 }) {
      try? info.deleteInode(inode)
    } else {
      try? info.writeInode(inode)
    }
  }

  /// Like ext2_sync_fs().
  func syncFS(_ sb: SuperBlock, wait: Bool) throws(Errno) { try info.syncAll() }

  /// Like ext2_put_super().
  func putSuper(_ sb: SuperBlock) { info.putSuper() }
}
