import SwiftVFSCore

/// devtmpfs, like drivers/base/devtmpfs.c: the file system mounted at /dev,
/// whose device nodes appear as drivers register their devices.
///
/// In Linux devtmpfs is itself a tmpfs instance, and so it is here: a memfs
/// superblock under its own type name, with memfs's operation tables. So
/// mknod, unlink, rename, mkdir, symlinks and small files work in it as in
/// any tmpfs. The nodes the drivers ask for are made by
/// `VFS.devtmpfsCreateNode` (devtmpfs_create_node), through the same VFS
/// mknod a user's mknod(2) reaches.
///
/// Mount options: `mode=` for the root (octal; default 0755, as devtmpfs
/// roots are). No size or inode limit.
public final class DevtmpfsType: FileSystemType {
  /// "devtmpfs", the name /proc/filesystems and mount(8) use.
  public let name = "devtmpfs"

  /// The devtmpfs type, to register with `VFS.filesystems`.
  public init() {}

  /// Like devtmpfs_init() + the tmpfs fill_super it borrows.
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let mode = try context.options.octal("mode") ?? 0o755
    guard mode <= 0o7777 else { throw .EINVAL }
    let sb = SuperBlock(
      fsType: self, ops: MemfsSuperOperations(), context: context, magic: MemfsType.magic,
      blockSize: PageStore.pageSize)
    let root = try Memfs.newInode(
      sb, mode: FileType.directory.rawValue | mode, cred: context.cred)
    sb.setRoot(root)
    // Serve the nodes that layers below the file systems ask for (the block
    // layer's disks), as the kdevtmpfs thread serves device_add()'s requests.
    let vfs = context.vfs
    vfs.deviceNodeRequests.install { [weak vfs] request throws(Errno) in
      try vfs?.devtmpfsServe(request)
    }
    return sb
  }
}

/// Device nodes in the mounted devtmpfs, as drivers make them (drivers/base/devtmpfs.c).
extension VFS {
  /// The devtmpfs superblock mounted in this VFS, if any.
  public var devtmpfs: SuperBlock? {
    mounts.first { $0.superBlock.fsType is DevtmpfsType }?.superBlock
  }

  /// Like devtmpfs_create_node(): makes the node `name` for `dev` at the root
  /// of the mounted devtmpfs, owned by root. Does nothing when the name is
  /// taken already (a driver loaded twice, or a node a user made first:
  /// EEXIST is not an error here, as devtmpfs leaves an existing node alone).
  ///
  /// Throws ENODEV when no devtmpfs is mounted: the node would appear
  /// nowhere, and a silent success would leave the caller looking for it.
  /// Mount one first with `mountDevAndProc()`, which works over any root.
  public func devtmpfsCreateNode(
    _ name: String, dev: DevT, mode: UInt32 = 0o600, type: FileType = .characterDevice
  ) throws(Errno) {
    guard let sb = devtmpfs else { throw .ENODEV }
    guard type == .characterDevice || type == .blockDevice else { throw .EINVAL }
    let inode: Inode
    do {
      inode = try mknod(
        sb.root, try FileName.validated(Array(name.utf8)),
        mode: type.rawValue | mode & ModeBits.permissions, rdev: dev, cred: .root)
    } catch  where error == .EEXIST {
      return
    }
    forget(inode.ino, count: 1)  // mknod held a lookup for the kernel; none is asked for here
  }

  /// `devtmpfsCreateNode` for the built-in drivers, which register in any
  /// VFS and get nodes only where a /dev is mounted (as a kernel built
  /// without devtmpfs still loads its drivers: devtmpfs_create_node()
  /// returns 0 when there is no devtmpfs thread).
  package func devtmpfsCreateNodeIfMounted(
    _ name: String, dev: DevT, mode: UInt32 = 0o600, type: FileType = .characterDevice
  ) throws(Errno) {
    guard devtmpfs != nil else { return }
    try devtmpfsCreateNode(name, dev: dev, mode: mode, type: type)
  }

  /// Serves one request of `deviceNodeRequests` in the mounted devtmpfs
  /// (nothing when none is mounted). A delete removes the node only if it is
  /// still the device's own, same type and number, as dev_mynode() checks:
  /// a node a user replaced under that name stays.
  func devtmpfsServe(_ request: DeviceNodeRequests.Request) throws(Errno) {
    switch request {
    case .create(let name, let dev, let type, let mode):
      try devtmpfsCreateNodeIfMounted(name, dev: dev, mode: mode, type: type)
    case .delete(let name, let dev, let type):
      try devtmpfsDeleteNode(name) { inode in
        inode.type == type && inode.lock.withLock { inode.rdev } == dev
      }
    }
  }

  /// Like devtmpfs_delete_node(): removes `name` from the devtmpfs root if
  /// it is a device node; no devtmpfs or no such node is not an error.
  public func devtmpfsDeleteNode(_ name: String) throws(Errno) {
    try devtmpfsDeleteNode(name) { $0.type == .characterDevice || $0.type == .blockDevice }
  }

  /// Removes `name` from the devtmpfs root if `isTheNode` says it is the
  /// node to remove; no devtmpfs or no such name is not an error.
  private func devtmpfsDeleteNode(_ name: String, if isTheNode: (Inode) -> Bool) throws(Errno) {
    guard let sb = devtmpfs else { return }
    let fileName = try FileName.validated(Array(name.utf8))
    let inode: Inode
    do {
      inode = try lookup(sb.root, fileName)
    } catch  where error == .ENOENT {
      return
    }
    defer { forget(inode.ino, count: 1) }
    guard isTheNode(inode) else { return }
    try unlink(sb.root, fileName)
  }
}
