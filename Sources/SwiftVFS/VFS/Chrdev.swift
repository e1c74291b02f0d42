/// The character device registry, like fs/char_dev.c: regions of device
/// numbers claimed by drivers, and the `Cdev`s that serve them.
///
/// A driver claims numbers first (`registerRegion` for a fixed major,
/// `allocRegion` for a dynamic one), then adds a `Cdev` with its fops over
/// them (`add`): from then on, opening a node whose rdev falls in the cdev's
/// range reaches those fops (`open`, like chrdev_open). `registerChrdev` does
/// both for a whole major in one call, as register_chrdev() does:
/// ```swift
/// struct Hello: FileOperations {
///   func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
///     throws(Errno) -> Int { ... }
/// }
/// let major = try vfs.chrdevs.registerChrdev(name: "hello", fileOps: Hello())
/// try vfs.devtmpfsCreateNode("hello", dev: DevT(major: major, minor: 0), mode: 0o666)
/// ```
///
/// Locking: `lock` guards both tables; a driver's fops run without it.
public final class ChrdevRegistry: @unchecked Sendable {
  /// A claimed range of minors under one major (struct char_device_struct).
  public struct Region: Sendable, Equatable {
    /// The first device number of the range.
    public let base: DevT
    /// How many minors, from `base` on.
    public let count: UInt32
    /// The owner's name, as /proc/devices shows it.
    public let name: String

    /// Whether `dev` lies in the range.
    public func contains(_ dev: DevT) -> Bool {
      dev.major == base.major && dev.minor >= base.minor
        && UInt64(dev.minor) < UInt64(base.minor) + UInt64(count)
    }

    func overlaps(_ other: Region) -> Bool {
      base.major == other.base.major
        && UInt64(base.minor) < UInt64(other.base.minor) + UInt64(other.count)
        && UInt64(other.base.minor) < UInt64(base.minor) + UInt64(count)
    }
  }

  /// A character device: fops over a range of device numbers (struct cdev).
  public struct Cdev: Sendable {
    /// The first device number it serves.
    public let base: DevT
    /// How many minors it serves, from `base` on.
    public let count: UInt32
    /// The driver's name.
    public let name: String
    /// What an open of one of its nodes installs in the file (chrdev_open).
    public let fileOps: FileOperations

    /// A cdev over `count` numbers from `base`, like cdev_init(); live once added.
    public init(base: DevT, count: UInt32 = 1, name: String, fileOps: FileOperations) {
      self.base = base
      self.count = count
      self.name = name
      self.fileOps = fileOps
    }

    func contains(_ dev: DevT) -> Bool {
      dev.major == base.major && dev.minor >= base.minor
        && UInt64(dev.minor) < UInt64(base.minor) + UInt64(count)
    }
  }

  /// Dynamic majors are taken from the top down, as the kernel does (254..234).
  public static let dynamicMajors: ClosedRange<UInt32> = 234...254

  private let lock = Lock()
  private var regions: [Region] = []
  private var cdevs: [Cdev] = []
  /// Told, with no lock held, which numbers gained or lost their cdev: the
  /// nodes carrying them change view (`DeviceNodeViews`). Set by the VFS.
  var serviceChanged: (@Sendable ([Region]) -> Void)?

  /// An empty registry.
  public init() {}

  private static func region(of cdev: Cdev) -> Region {
    Region(base: cdev.base, count: cdev.count, name: cdev.name)
  }

  /// Like register_chrdev_region(): claims `count` numbers from `base`.
  /// EBUSY if any is claimed already; EINVAL for an empty range, one that
  /// runs past its major's last minor, or major 0 (which Linux reserves for
  /// anonymous devices; use `allocRegion` for a dynamic major).
  public func registerRegion(_ base: DevT, count: UInt32, name: String) throws(Errno) {
    guard base.major != 0, count > 0,
      UInt64(base.minor) + UInt64(count) <= UInt64(DevT.maxMinor) + 1
    else {
      throw .EINVAL
    }
    let region = Region(base: base, count: count, name: name)
    try lock.withLock { () throws(Errno) in
      guard !regions.contains(where: { $0.overlaps(region) }) else { throw .EBUSY }
      regions.append(region)
    }
  }

  /// Like alloc_chrdev_region(): a free dynamic major; returns the first number.
  public func allocRegion(firstMinor: UInt32 = 0, count: UInt32, name: String) throws(Errno)
    -> DevT
  {
    guard count > 0, UInt64(firstMinor) + UInt64(count) <= UInt64(DevT.maxMinor) + 1 else {
      throw .EINVAL
    }
    return try lock.withLock { () throws(Errno) -> DevT in
      for major in ChrdevRegistry.dynamicMajors.reversed()
      where !regions.contains(where: { $0.base.major == major }) {
        let base = try DevT(major: major, minor: firstMinor)
        regions.append(Region(base: base, count: count, name: name))
        return base
      }
      throw .EBUSY
    }
  }

  /// Like unregister_chrdev_region(): gives the numbers back, and drops the
  /// cdevs inside them.
  public func unregisterRegion(_ base: DevT, count: UInt32) {
    let dropped = lock.withLock { () -> [Region] in
      regions.removeAll { $0.base == base && $0.count == count }
      let inside = { (c: Cdev) in
        c.base.major == base.major && c.base.minor >= base.minor
          && UInt64(c.base.minor) < UInt64(base.minor) + UInt64(count)
      }
      let gone = cdevs.filter(inside).map(ChrdevRegistry.region(of:))
      cdevs.removeAll(where: inside)
      return gone
    }
    if !dropped.isEmpty { serviceChanged?(dropped) }
  }

  /// Like cdev_add(): the device is live immediately. EBUSY if another cdev
  /// serves any of these numbers.
  public func add(_ cdev: Cdev) throws(Errno) {
    guard cdev.count > 0 else { throw .EINVAL }
    try lock.withLock { () throws(Errno) in
      let overlap = cdevs.contains { c in
        c.base.major == cdev.base.major
          && UInt64(c.base.minor) < UInt64(cdev.base.minor) + UInt64(cdev.count)
          && UInt64(cdev.base.minor) < UInt64(c.base.minor) + UInt64(c.count)
      }
      guard !overlap else { throw .EBUSY }
      cdevs.append(cdev)
    }
    serviceChanged?([ChrdevRegistry.region(of: cdev)])
  }

  /// Like register_chrdev(): claims minors 0-255 of `major` (0: a dynamic
  /// major) under `name` and adds one cdev with `fileOps` over all of them.
  /// Returns the major. EBUSY if the numbers or a cdev overlap; nothing is
  /// kept on failure.
  @discardableResult
  public func registerChrdev(major: UInt32 = 0, name: String, fileOps: FileOperations)
    throws(Errno) -> UInt32
  {
    let base: DevT
    if major == 0 {
      base = try allocRegion(count: 256, name: name)
    } else {
      base = try DevT(major: major, minor: 0)
      try registerRegion(base, count: 256, name: name)
    }
    do {
      try add(Cdev(base: base, count: 256, name: name, fileOps: fileOps))
    } catch {
      unregisterRegion(base, count: 256)
      throw error
    }
    return base.major
  }

  /// Like unregister_chrdev(): the cdev and minors 0-255 of `major` go.
  public func unregisterChrdev(major: UInt32) {
    guard let base = try? DevT(major: major, minor: 0) else { return }
    unregisterRegion(base, count: 256)
  }

  /// Like cdev_del().
  public func remove(base: DevT) {
    let dropped = lock.withLock { () -> [Region] in
      let gone = cdevs.filter { $0.base == base }.map(ChrdevRegistry.region(of:))
      cdevs.removeAll { $0.base == base }
      return gone
    }
    if !dropped.isEmpty { serviceChanged?(dropped) }
  }

  /// The cdev serving `dev` (kobj_lookup on cdev_map), if any.
  public func cdev(for dev: DevT) -> Cdev? {
    lock.withLock { cdevs.first { $0.contains(dev) } }
  }

  /// Every claimed region, as /proc/devices lists them.
  public var allRegions: [Region] { lock.withLock { regions } }
  /// Every added cdev.
  public var allCdevs: [Cdev] { lock.withLock { cdevs } }

  /// Like chrdev_open(): finds the cdev for the inode's rdev, swaps its fops
  /// into the file and calls its open. ENXIO when no driver serves the number.
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    let rdev = inode.lock.withLock { inode.rdev }
    guard let cdev = cdev(for: rdev) else { throw .ENXIO }
    file.fileOps = cdev.fileOps
    file.directIO = true
    file.nonSeekable = false
    try cdev.fileOps.open(inode, file)
  }
}
