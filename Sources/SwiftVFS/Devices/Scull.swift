import SwiftVFSCore
import SwiftVFSFileSystems

/// scull ("Simple Character Utility for Loading Localities"), the memory-backed
/// teaching device of Linux Device Drivers, 3rd edition (chapters 3 and 6),
/// in Swift. Four devices, scull0 to scull3, each a growing area of memory:
/// what is written is read back, at any offset.
///
/// Memory layout, as in LDD3: a device holds a list of `ScullQset`s; each
/// qset holds up to `qset` pointers to quanta of `quantum` bytes. Quanta are
/// allocated when first written. Like LDD3, one read or write stops at the end
/// of a quantum (a short count; the caller goes on); unlike LDD3, a hole (a
/// quantum never written, before the end) reads as zeros rather than as end
/// of file, and the size is bounded (`Scull.maxSize`; EFBIG past it).
///
/// Opening write-only, or for writing with O_TRUNC, empties the device
/// (scull_trim), as LDD3's scull_open does for O_WRONLY. So `echo x >>` and
/// `dd of=` start afresh too; to write in place, open it read-write
/// (`dd bs=1 seek=N conv=notrunc 1<>/dev/scull0`).
///
/// At the FUSE boundary the node is a file of size 0 opened with direct I/O:
/// reads and writes reach the driver at the offsets the kernel keeps
/// (SEEK_SET and SEEK_CUR work; SEEK_END counts from 0, not from the data's end).
///
/// Registration (scull_init_module): `alloc_chrdev_region` of 4 minors under
/// the name "scull" (a dynamic major, as LDD3's default scull_major = 0; see
/// /proc/devices or /proc/vfs/devnodes for the number),
/// then one cdev per device.
///
/// ioctls (scull.h), magic 'k', `int` arguments. Set/tell/exchange/shift need
/// root (CAP_SYS_ADMIN in LDD3; EPERM otherwise). Like LDD3, `quantum` and
/// `qset` are driver-wide settings, taken by a device each time it is emptied.
///
/// | name              | encoding                 | value      | does                           |
/// |-------------------|--------------------------|------------|--------------------------------|
/// | SCULL_IOCRESET    | _IO('k', 0)              | 0x00006b00 | defaults back, device emptied  |
/// | SCULL_IOCSQUANTUM | _IOW('k', 1, int)        | 0x40046b01 | Set quantum from *arg          |
/// | SCULL_IOCSQSET    | _IOW('k', 2, int)        | 0x40046b02 | Set qset from *arg             |
/// | SCULL_IOCTQUANTUM | _IO('k', 3)              | 0x00006b03 | Tell: quantum = arg            |
/// | SCULL_IOCTQSET    | _IO('k', 4)              | 0x00006b04 | Tell: qset = arg               |
/// | SCULL_IOCGQUANTUM | _IOR('k', 5, int)        | 0x80046b05 | Get quantum into *arg          |
/// | SCULL_IOCGQSET    | _IOR('k', 6, int)        | 0x80046b06 | Get qset into *arg             |
/// | SCULL_IOCQQUANTUM | _IO('k', 7)              | 0x00006b07 | Query: quantum is the result   |
/// | SCULL_IOCQQSET    | _IO('k', 8)              | 0x00006b08 | Query: qset is the result      |
/// | SCULL_IOCXQUANTUM | _IOWR('k', 9, int)       | 0xc0046b09 | eXchange via *arg              |
/// | SCULL_IOCXQSET    | _IOWR('k', 10, int)      | 0xc0046b0a | eXchange via *arg              |
/// | SCULL_IOCHQUANTUM | _IO('k', 11)             | 0x00006b0b | sHift: tell arg, return old    |
/// | SCULL_IOCHQSET    | _IO('k', 12)             | 0x00006b0c | sHift: tell arg, return old    |
///
/// From a shell, with Python's fcntl.ioctl:
/// ```sh
/// python3 -c 'import fcntl,os; fd=os.open("/mnt/dev/scull0", os.O_RDONLY); print(fcntl.ioctl(fd, 0x6b07))'  # query quantum
/// python3 -c 'import fcntl,os; fd=os.open("/mnt/dev/scull0", os.O_RDONLY); fcntl.ioctl(fd, 0x6b03, 1000)'   # tell quantum
/// python3 -c 'import fcntl,os,struct; fd=os.open("/mnt/dev/scull0", os.O_RDONLY); print(struct.unpack("i", fcntl.ioctl(fd, 0x80046b05, bytes(4)))[0])'  # get
/// ```
public final class Scull: @unchecked Sendable {
  /// The ioctl type byte of scull's commands (SCULL_IOC_MAGIC, 'k').
  public static let magic = UInt8(ascii: "k")  // SCULL_IOC_MAGIC
  /// Bytes in one quantum at load (SCULL_QUANTUM).
  public static let defaultQuantum: Int32 = 4000  // SCULL_QUANTUM
  /// Quanta in one qset at load (SCULL_QSET).
  public static let defaultQset: Int32 = 1000  // SCULL_QSET
  /// The number of scull devices, scull0 to scull3 (SCULL_NR_DEVS).
  public static let deviceCount: UInt32 = 4  // SCULL_NR_DEVS
  /// The largest quantum and qset a tell/set accepts (LDD3 takes any value,
  /// even 0, which divides by zero).
  public static let maxQuantum: Int32 = 1 << 20
  /// The largest qset a tell or set accepts.
  public static let maxQset: Int32 = 1 << 16
  /// The most bytes one device holds.
  public static let maxSize: Int64 = 256 << 20

  /// Resets quantum and qset to their defaults (SCULL_IOCRESET).
  public static let reset = Ioctl.io(magic, 0)  // SCULL_IOCRESET
  /// Sets the quantum from a pointer (SCULL_IOCSQUANTUM).
  public static let setQuantum = Ioctl.iow(magic, 1, size: 4)  // SCULL_IOCSQUANTUM
  /// Sets the qset from a pointer (SCULL_IOCSQSET).
  public static let setQset = Ioctl.iow(magic, 2, size: 4)  // SCULL_IOCSQSET
  /// Sets the quantum from the argument's value (SCULL_IOCTQUANTUM).
  public static let tellQuantum = Ioctl.io(magic, 3)  // SCULL_IOCTQUANTUM
  /// Sets the qset from the argument's value (SCULL_IOCTQSET).
  public static let tellQset = Ioctl.io(magic, 4)  // SCULL_IOCTQSET
  /// Gets the quantum through a pointer (SCULL_IOCGQUANTUM).
  public static let getQuantum = Ioctl.ior(magic, 5, size: 4)  // SCULL_IOCGQUANTUM
  /// Gets the qset through a pointer (SCULL_IOCGQSET).
  public static let getQset = Ioctl.ior(magic, 6, size: 4)  // SCULL_IOCGQSET
  /// Returns the quantum as the ioctl's result (SCULL_IOCQQUANTUM).
  public static let queryQuantum = Ioctl.io(magic, 7)  // SCULL_IOCQQUANTUM
  /// Returns the qset as the ioctl's result (SCULL_IOCQQSET).
  public static let queryQset = Ioctl.io(magic, 8)  // SCULL_IOCQQSET
  /// Sets the quantum through a pointer and returns the old one there (SCULL_IOCXQUANTUM).
  public static let exchangeQuantum = Ioctl.iowr(magic, 9, size: 4)  // SCULL_IOCXQUANTUM
  /// Sets the qset through a pointer and returns the old one there (SCULL_IOCXQSET).
  public static let exchangeQset = Ioctl.iowr(magic, 10, size: 4)  // SCULL_IOCXQSET
  /// Sets the quantum from the argument, returns the old one (SCULL_IOCHQUANTUM).
  public static let shiftQuantum = Ioctl.io(magic, 11)  // SCULL_IOCHQUANTUM
  /// Sets the qset from the argument, returns the old one (SCULL_IOCHQSET).
  public static let shiftQset = Ioctl.io(magic, 12)  // SCULL_IOCHQSET
  static let maxNumber: UInt8 = 12  // SCULL_IOC_MAXNR

  /// The first device number (MKDEV(scull_major, scull_minor)).
  public let base: DevT
  /// The devices, one per minor from `base` (scull_devices).
  public let devices: [ScullDevice]

  /// The driver-wide settings (scull_quantum, scull_qset), under `lock`.
  private let lock = Lock()
  private var driverQuantum = Scull.defaultQuantum
  private var driverQset = Scull.defaultQset

  init(base: DevT) {
    self.base = base
    devices = (0..<Int(Scull.deviceCount)).map { _ in ScullDevice() }
  }

  /// The quantum new data is stored in now (scull_quantum).
  public var quantum: Int32 { lock.withLock { driverQuantum } }
  /// The qset new data is stored in now (scull_qset).
  public var qset: Int32 { lock.withLock { driverQset } }

  /// Like scull_init_module(): a dynamic major for 4 minors, a cdev for
  /// each device, and nodes /dev/scull0..3 if devtmpfs is mounted.
  @discardableResult
  public static func register(in vfs: VFS) throws(Errno) -> Scull {
    let base = try vfs.chrdevs.allocRegion(count: deviceCount, name: "scull")
    let scull = Scull(base: base)
    let fops = ScullFileOperations(scull: scull)
    for i in 0..<deviceCount {
      let dev = try DevT(major: base.major, minor: base.minor + i)
      // scull_setup_cdev()
      try vfs.chrdevs.add(.init(base: dev, count: 1, name: "scull", fileOps: fops))
      try vfs.devtmpfsCreateNodeIfMounted("scull\(i)", dev: dev, mode: 0o666)
    }
    return scull
  }

  func device(for dev: DevT) -> ScullDevice? {
    guard dev.major == base.major, dev.minor >= base.minor else { return nil }
    let i = Int(dev.minor - base.minor)
    return i < devices.count ? devices[i] : nil
  }

  /// The driver's settings as one change: a value to check and set, and the
  /// old value back.
  fileprivate func exchange(quantum value: Int32) throws(Errno) -> Int32 {
    guard value > 0, value <= Scull.maxQuantum else { throw .EINVAL }
    return lock.withLock {
      defer { driverQuantum = value }
      return driverQuantum
    }
  }

  fileprivate func exchange(qset value: Int32) throws(Errno) -> Int32 {
    guard value > 0, value <= Scull.maxQset else { throw .EINVAL }
    return lock.withLock {
      defer { driverQset = value }
      return driverQset
    }
  }

  fileprivate func restoreDefaults() {
    lock.withLock {
      driverQuantum = Scull.defaultQuantum
      driverQset = Scull.defaultQset
    }
  }
}

/// One qset: an array of `qset` quanta, each nil until written (struct scull_qset).
final class ScullQset {
  var data: [[UInt8]?]?
}

/// One scull device (struct scull_dev). Guarded by `lock` (LDD3's `sem`).
public final class ScullDevice: @unchecked Sendable {
  let lock = Lock()
  private var data: [ScullQset] = []
  private var quantum = Int(Scull.defaultQuantum)
  private var qset = Int(Scull.defaultQset)
  private var size: Int64 = 0

  /// Bytes held, from 0 to the end of the last write.
  public var byteCount: Int64 { lock.withLock { size } }
  /// The quantum and qset this device's data is laid out with.
  public var layout: (quantum: Int, qset: Int) { lock.withLock { (quantum, qset) } }

  /// Like scull_trim(): frees all the data and takes the driver's current
  /// quantum and qset. Caller holds `lock`.
  func trimLocked(quantum: Int32, qset: Int32) {
    data.removeAll()
    size = 0
    self.quantum = Int(quantum)
    self.qset = Int(qset)
  }

  /// Like scull_follow(): the qset at list position `item`, made (empty) if
  /// the list is shorter. Caller holds `lock`.
  private func followLocked(_ item: Int) -> ScullQset {
    while data.count <= item { data.append(ScullQset()) }
    return data[item]
  }

  /// Where byte `pos` lives: list item, quantum in the qset, byte in the quantum.
  private func locate(_ pos: Int64) -> (item: Int, sPos: Int, qPos: Int) {
    let itemSize = Int64(quantum * qset)
    let item = Int(pos / itemSize)
    let rest = Int(pos % itemSize)
    return (item, rest / quantum, rest % quantum)
  }

  /// Like scull_read(): up to the end of the data and of the current quantum.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int {
    lock.withLock {
      guard offset < size, buffer.count > 0 else { return 0 }
      let (item, sPos, qPos) = locate(offset)
      let count = min(Int64(buffer.count), size - offset, Int64(quantum - qPos))
      let n = Int(count)
      let quantumData = item < data.count ? data[item].data?[sPos] : nil
      if let quantumData {
        quantumData.withUnsafeBytes { src in
          buffer.baseAddress!.copyMemory(from: src.baseAddress! + qPos, byteCount: n)
        }
      } else {
        buffer.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: n)
      }
      return n
    }
  }

  /// Like scull_write(): up to the end of the current quantum, allocating
  /// the qset and quantum as needed.
  func write(from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
    try lock.withLock { () throws(Errno) -> Int in
      guard buffer.count > 0 else { return 0 }
      guard offset < Scull.maxSize else { throw .EFBIG }
      let (item, sPos, qPos) = locate(offset)
      let n = Int(min(Int64(buffer.count), Int64(quantum - qPos), Scull.maxSize - offset))
      let qs = followLocked(item)
      if qs.data == nil { qs.data = Array(repeating: nil, count: qset) }
      if qs.data![sPos] == nil { qs.data![sPos] = [UInt8](repeating: 0, count: quantum) }
      qs.data![sPos]!.withUnsafeMutableBytes { dst in
        (dst.baseAddress! + qPos).copyMemory(from: buffer.baseAddress!, byteCount: n)
      }
      size = max(size, offset + Int64(n))
      return n
    }
  }
}

/// scull_fops.
struct ScullFileOperations: FileOperations {
  let scull: Scull

  /// Like scull_open(): finds the device (container_of on i_cdev, here the
  /// minor) and empties it when opened write-only or with O_TRUNC.
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    let rdev = inode.lock.withLock { inode.rdev }
    guard let device = scull.device(for: rdev) else { throw .ENXIO }
    file.privateData = device
    let accessMode = file.flags & OpenFlags.accessMode
    if accessMode == 1 || (file.isWritable && file.flags & OpenFlags.truncate != 0) {
      let (quantum, qset) = (scull.quantum, scull.qset)
      device.lock.withLock { device.trimLocked(quantum: quantum, qset: qset) }
    }
  }

  private func device(_ file: File) -> ScullDevice {
    unsafeDowncast(file.privateData!, to: ScullDevice.self)
  }

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    device(file).read(into: buffer, at: offset)
  }

  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    try device(file).write(from: buffer, at: offset)
  }

  /// Like scull_llseek() for what FUSE forwards: SEEK_DATA and SEEK_HOLE
  /// against the device's size.
  func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 {
    let size = device(file).byteCount
    guard whence == Whence.data || whence == Whence.hole else { throw .EINVAL }
    guard offset >= 0, offset < size else { throw .ENXIO }
    return whence == Whence.data ? offset : size
  }

  /// Like scull_ioctl(). A command of another type, or a number past
  /// SCULL_IOC_MAXNR, is ENOTTY.
  func ioctl(
    _ file: File, command: UInt32, argument: UInt64, input: UnsafeRawBufferPointer,
    outputSize: Int
  ) throws(Errno) -> (result: Int32, output: [UInt8]) {
    guard Ioctl.type(command) == Scull.magic, Ioctl.number(command) <= Scull.maxNumber else {
      throw .ENOTTY
    }
    let admin = file.cred.isRoot
    /// An `_IO` argument as the int it carries (LDD3 casts arg to int).
    func value() throws(Errno) -> Int32 {
      guard let v = Int32(exactly: Int64(bitPattern: argument)) else { throw .EINVAL }
      return v
    }
    func out(_ v: Int32) throws(Errno) -> (result: Int32, output: [UInt8]) {
      guard outputSize >= 4 else { throw .EFAULT }
      return (0, Ioctl.bytes(of: v))
    }
    switch command {
    case Scull.reset:
      scull.restoreDefaults()
      let dev = device(file)
      dev.lock.withLock { dev.trimLocked(quantum: Scull.defaultQuantum, qset: Scull.defaultQset) }
      return (0, [])
    case Scull.setQuantum, Scull.setQset, Scull.tellQuantum, Scull.tellQset,
      Scull.exchangeQuantum, Scull.exchangeQset, Scull.shiftQuantum, Scull.shiftQset:
      guard admin else { throw .EPERM }
      switch command {
      case Scull.setQuantum: _ = try scull.exchange(quantum: try Ioctl.int32(from: input))
      case Scull.setQset: _ = try scull.exchange(qset: try Ioctl.int32(from: input))
      case Scull.tellQuantum: _ = try scull.exchange(quantum: try value())
      case Scull.tellQset: _ = try scull.exchange(qset: try value())
      case Scull.exchangeQuantum:
        guard outputSize >= 4 else { throw .EFAULT }
        return try out(try scull.exchange(quantum: try Ioctl.int32(from: input)))
      case Scull.exchangeQset:
        guard outputSize >= 4 else { throw .EFAULT }
        return try out(try scull.exchange(qset: try Ioctl.int32(from: input)))
      case Scull.shiftQuantum: return (try scull.exchange(quantum: try value()), [])
      default: return (try scull.exchange(qset: try value()), [])
      }
      return (0, [])
    case Scull.getQuantum: return try out(scull.quantum)
    case Scull.getQset: return try out(scull.qset)
    case Scull.queryQuantum: return (scull.quantum, [])
    case Scull.queryQset: return (scull.qset, [])
    default:
      throw .ENOTTY  // the right magic, a number with another direction or size
    }
  }
}
