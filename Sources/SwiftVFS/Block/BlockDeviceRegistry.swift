// The registry of block majors and disks, like block/genhd.c: the names of
// the majors (`major_names`, filled by register_blkdev()) and the disks that
// were added (add_disk()), which /proc/devices, /proc/partitions and /dev
// show. A VFS has one registry (`of(_:)`), as a machine has one genhd; its
// disks get block nodes in that VFS's devtmpfs through the core's
// `deviceNodeRequests`, as add_disk() → device_add() → devtmpfs_create_node().
//
// Locking: `lock` guards both tables; no driver runs under it, and the node
// requests are sent after it is released (they take devtmpfs's locks).

import SwiftVFSCore

/// Block majors and the disks under them (block/genhd.c's major_names and added gendisks).
///
/// A driver names its major first (`registerBlkdev`, with 0 for a dynamic
/// one), then adds each disk (`addDisk`). `addRamDisk` and `addImageFile` do
/// both for the two built-in drivers, under Linux's numbers:
/// ```swift
/// let disks = BlockDeviceRegistry()
/// let ram = try disks.addRamDisk(sizeInBytes: 1 << 20)   // ram0, 1:0
/// let image = try disks.addImageFile(path: "disk.img")    // loop0, 7:0
/// print(disks.procPartitions())
/// ```
public final class BlockDeviceRegistry: @unchecked Sendable {
  /// RAM disks' major (RAMDISK_MAJOR in include/uapi/linux/major.h).
  public static let ramdiskMajor: UInt32 = 1
  /// Loop devices' major (LOOP_MAJOR): image files here.
  public static let loopMajor: UInt32 = 7
  /// Majors must be below this (BLKDEV_MAJOR_MAX).
  public static let majorLimit: UInt32 = 512
  /// Where a dynamic major is searched, from the top down, as
  /// __register_blkdev() walks its 255 hash slots from 254 to 1.
  public static let dynamicMajors: ClosedRange<UInt32> = 1...254

  /// A registered block major and its driver's name (struct blk_major_name).
  public struct Major: Sendable, Equatable {
    /// The major number.
    public let major: UInt32
    /// The name /proc/devices shows ("ramdisk", "loop").
    public let name: String
  }

  /// The permission bits of a disk's node in /dev: 0600, as devtmpfs makes
  /// a block node whose driver names no mode (udev's group "disk" is not here).
  public static let nodeMode: UInt32 = 0o600

  private let lock = Lock()
  private var majorNames: [UInt32: String] = [:]
  private var addedDisks: [DevT: BlockDevice] = [:]
  /// Where the disks' /dev nodes are asked for; nil for a registry of no VFS.
  private let nodeRequests: DeviceNodeRequests?

  /// An empty registry: no major, no disk. Its disks get no /dev nodes and
  /// no /proc lines; the one of a VFS is `of(_:)`.
  public init() { nodeRequests = nil }

  init(nodeRequests: DeviceNodeRequests) { self.nodeRequests = nodeRequests }

  /// The registry of `vfs`, made on first use (the block layer's
  /// genhd_device_init()): it registers /proc/partitions and the block part
  /// of /proc/devices, and its disks appear as block nodes in the VFS's
  /// devtmpfs when one is mounted (disks added before it was mounted get
  /// none, as no one replays them).
  public static func of(_ vfs: VFS) -> BlockDeviceRegistry {
    vfs.subsystem(BlockDeviceRegistry.self) {
      let registry = BlockDeviceRegistry(nodeRequests: vfs.deviceNodeRequests)
      registry.registerProcSections(vfs.procSections)
      return registry
    }
  }

  /// Asks for `device`'s node in /dev, like device_add() → devtmpfs_create_node(),
  /// whose error the driver core ignores: the disk works without a node.
  private func requestNode(for device: BlockDevice) {
    try? nodeRequests?.submit(
      .create(
        name: device.name, dev: device.dev, type: .blockDevice, mode: BlockDeviceRegistry.nodeMode))
  }

  /// Claims a block major for `name` (register_blkdev()); returns the major.
  ///
  /// `major` 0 asks for a dynamic one: the highest free major from 254 down
  /// (EBUSY when none is left). A fixed major at or past 512 is EINVAL, one
  /// already taken is EBUSY; an empty name, or one with a space or a newline
  /// (it would break /proc/devices), is EINVAL.
  @discardableResult
  public func registerBlkdev(major: UInt32 = 0, name: String) throws(Errno) -> UInt32 {
    guard !name.isEmpty, !name.contains(" "), !name.contains("\n") else { throw .EINVAL }
    return try lock.withLock { () throws(Errno) -> UInt32 in
      if major == 0 {
        guard
          let free = BlockDeviceRegistry.dynamicMajors.reversed().first(where: {
            majorNames[$0] == nil
          })
        else { throw .EBUSY }
        majorNames[free] = name
        return free
      }
      guard major < BlockDeviceRegistry.majorLimit else { throw .EINVAL }
      guard majorNames[major] == nil else { throw .EBUSY }
      majorNames[major] = name
      return major
    }
  }

  /// Releases `major` (unregister_blkdev()). EINVAL if it is not registered
  /// under `name` (the kernel warns and keeps it); EBUSY while a disk under
  /// it is still added.
  public func unregisterBlkdev(major: UInt32, name: String) throws(Errno) {
    try lock.withLock { () throws(Errno) in
      guard majorNames[major] == name else { throw .EINVAL }
      guard !addedDisks.keys.contains(where: { $0.major == major }) else { throw .EBUSY }
      majorNames[major] = nil
    }
  }

  /// The registered majors, by number.
  public var majors: [Major] {
    lock.withLock {
      majorNames.map { Major(major: $0.key, name: $0.value) }.sorted { $0.major < $1.major }
    }
  }

  /// Makes `device` visible (add_disk()). Its major must be registered
  /// (EINVAL otherwise); its number already added is EBUSY, its name EEXIST.
  /// Its node appears in /dev (see `of(_:)`).
  public func addDisk(_ device: BlockDevice) throws(Errno) {
    try lock.withLock { () throws(Errno) in
      guard majorNames[device.dev.major] != nil else { throw .EINVAL }
      guard addedDisks[device.dev] == nil else { throw .EBUSY }
      guard !addedDisks.values.contains(where: { $0.name == device.name }) else { throw .EEXIST }
      addedDisks[device.dev] = device
    }
    requestNode(for: device)
  }

  /// Removes the disk numbered `dev` (del_gendisk()) and returns it; ENXIO if
  /// none. Its node leaves /dev if it is still the disk's (devtmpfs_delete_node()).
  @discardableResult
  public func deleteDisk(_ dev: DevT) throws(Errno) -> BlockDevice {
    let device = try lock.withLock { () throws(Errno) -> BlockDevice in
      guard let device = addedDisks.removeValue(forKey: dev) else { throw .ENXIO }
      return device
    }
    try? nodeRequests?.submit(.delete(name: device.name, dev: device.dev, type: .blockDevice))
    return device
  }

  /// The disk numbered `dev`, if added (like blkdev_get_no_open()).
  public func disk(_ dev: DevT) -> BlockDevice? { lock.withLock { addedDisks[dev] } }

  /// The disk named `name`, if added.
  public func disk(named name: String) -> BlockDevice? {
    lock.withLock { addedDisks.values.first { $0.name == name } }
  }

  /// Every added disk, by device number.
  public var disks: [BlockDevice] {
    lock.withLock { addedDisks.values.sorted { $0.dev < $1.dev } }
  }

  /// Adds a RAM disk "ramN" of `sizeInBytes` under major 1 (registered as
  /// "ramdisk" on first use), at the lowest free minor, like brd_alloc().
  @discardableResult
  public func addRamDisk(sizeInBytes: UInt64, readOnly: Bool = false) throws(Errno) -> BlockDevice {
    try addNumbered(major: BlockDeviceRegistry.ramdiskMajor, driverName: "ramdisk", prefix: "ram") {
      (dev, name) throws(Errno) in
      try BlockDevice(
        name: name, dev: dev, driver: RamDisk(sizeInBytes: sizeInBytes), readOnly: readOnly)
    }
  }

  /// Adds the image at `path` as "loopN" under major 7 (registered as "loop"
  /// on first use), at the lowest free minor, like losetup. Open errors are
  /// ImageFile's (ENOENT, EISDIR, EINVAL, EACCES). The logical block size is
  /// 512 bytes, or 4096 with `directIO` (O_DIRECT transfers must be aligned
  /// to the host's block, as loop_update_dio() requires), unless given.
  @discardableResult
  public func addImageFile(
    path: String, readOnly: Bool = false, directIO: Bool = false, logicalBlockSize: Int? = nil
  ) throws(Errno) -> BlockDevice {
    let image = try ImageFile(path: path, readOnly: readOnly, directIO: directIO)
    let logicalBlockSize = logicalBlockSize ?? (directIO ? ImageFile.directAlignment : 512)
    return try addNumbered(major: BlockDeviceRegistry.loopMajor, driverName: "loop", prefix: "loop")
    {
      (dev, name) throws(Errno) in
      try BlockDevice(name: name, dev: dev, driver: image, logicalBlockSize: logicalBlockSize)
    }
  }

  /// Registers `major` as `driverName` if no one has, then builds and adds a
  /// device at its lowest free minor, named prefix + minor; then asks for its node.
  private func addNumbered(
    major: UInt32, driverName: String, prefix: String,
    _ make: (DevT, String) throws(Errno) -> BlockDevice
  ) throws(Errno) -> BlockDevice {
    let device = try lock.withLock { () throws(Errno) -> BlockDevice in
      if let owner = majorNames[major] {
        guard owner == driverName else { throw .EBUSY }
      } else {
        majorNames[major] = driverName
      }
      var minor: UInt32 = 0
      while addedDisks[try DevT(major: major, minor: minor)] != nil { minor += 1 }
      let dev = try DevT(major: major, minor: minor)
      let device = try make(dev, "\(prefix)\(minor)")
      guard !addedDisks.values.contains(where: { $0.name == device.name }) else { throw .EEXIST }
      addedDisks[dev] = device
      return device
    }
    requestNode(for: device)
    return device
  }
}
