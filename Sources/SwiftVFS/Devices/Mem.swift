import SwiftVFSCore
import SwiftVFSFileSystems

#if canImport(Glibc)
  import Glibc
#endif

/// The "mem" character devices, like drivers/char/mem.c: one driver that
/// claims the whole of major 1 (`register_chrdev(MEM_MAJOR, "mem",
/// &memory_fops)`), whose open picks each minor's own fops from a table
/// (`devlist`), as memory_open() does.
///
/// Unlike mem.c, the cdevs cover only the minors in `devlist`, one each: a
/// char node looks like a regular file above the VFS only when a cdev serves
/// its number (`DeviceNodeViews`), so a node for a minor this driver lacks
/// (1:1 mem, 1:2 kmem, 1:11 kmsg) shows as the char node it is.
///
/// | minor | node    | reads                  | writes              |
/// |-------|---------|------------------------|---------------------|
/// | 3     | null    | end of file            | vanish (all taken)  |
/// | 5     | zero    | zeros, endlessly       | vanish              |
/// | 7     | full    | zeros, endlessly       | ENOSPC              |
/// | 8     | random  | the system's CSPRNG    | taken, ignored      |
/// | 9     | urandom | the system's CSPRNG    | taken, ignored      |
public enum MemDevices {
  /// MEM_MAJOR.
  public static let major: UInt32 = 1

  /// One `devlist` entry: a node name, its minor, mode, and fops.
  public struct Entry: Sendable {
    /// The node name under /dev ("null", "zero" ...).
    public let name: String
    /// The minor number under the mem major (1).
    public let minor: UInt32
    /// The node's permission bits.
    public let mode: UInt32
    /// The driver's file operations.
    public let fileOps: FileOperations
  }

  /// Like mem.c's `devlist`.
  public static let devlist: [Entry] = [
    Entry(name: "null", minor: 3, mode: 0o666, fileOps: NullDevice()),
    Entry(name: "zero", minor: 5, mode: 0o666, fileOps: ZeroDevice()),
    Entry(name: "full", minor: 7, mode: 0o666, fileOps: FullDevice()),
    Entry(name: "random", minor: 8, mode: 0o666, fileOps: RandomDevice()),
    Entry(name: "urandom", minor: 9, mode: 0o666, fileOps: RandomDevice()),
  ]

  /// Like chr_dev_init(): claims major 1 (minors 0-255) as "mem", adds the
  /// driver for each minor it has, and makes each node in devtmpfs if one is
  /// mounted.
  public static func register(in vfs: VFS) throws(Errno) {
    let base = try DevT(major: major, minor: 0)
    try vfs.chrdevs.registerRegion(base, count: 256, name: "mem")
    for entry in devlist {
      let dev = try DevT(major: major, minor: entry.minor)
      try vfs.chrdevs.add(.init(base: dev, name: "mem", fileOps: MemoryOpen()))
    }
    for entry in devlist {
      try vfs.devtmpfsCreateNodeIfMounted(
        entry.name, dev: try DevT(major: major, minor: entry.minor), mode: entry.mode)
    }
  }
}

/// memory_fops: only an open, which installs the minor's own fops.
struct MemoryOpen: FileOperations {
  /// Like memory_open().
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    let minor = inode.lock.withLock { inode.rdev.minor }
    guard let entry = MemDevices.devlist.first(where: { $0.minor == minor }) else {
      throw .ENXIO
    }
    file.fileOps = entry.fileOps
    try entry.fileOps.open(inode, file)
  }
}

/// /dev/null: read_null() and write_null().
public struct NullDevice: FileOperations {
  /// The /dev/null driver.
  public init() {}

  /// Like read_null(): always end of file.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { 0 }

  /// Like write_null(): everything is taken, and dropped.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { buffer.count }

  /// Like null_lseek(): every seek lands at 0 (FUSE asks only for SEEK_DATA/HOLE).
  public func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 { 0 }
}

/// /dev/zero: read_iter_zero() and write_null().
public struct ZeroDevice: FileOperations {
  /// The /dev/zero driver.
  public init() {}

  /// Like read_iter_zero(): the whole buffer, zeroed.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    if let base = buffer.baseAddress { memset(base, 0, buffer.count) }
    return buffer.count
  }

  /// Like write_zero(): every byte is taken and dropped.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { buffer.count }

  /// Like null_lseek(): every seek lands at 0.
  public func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 { 0 }
}

/// /dev/full: reads as /dev/zero, and every write fails with ENOSPC.
public struct FullDevice: FileOperations {
  /// The /dev/full driver.
  public init() {}

  /// Reads as /dev/zero: the whole buffer, zeroed.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    try ZeroDevice().read(file, into: buffer, at: offset)
  }

  /// Like write_full(): "No space left on device".
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { throw .ENOSPC }

  /// Like full_lseek(): every seek lands at 0.
  public func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 { 0 }
}

/// /dev/random and /dev/urandom, like drivers/char/random.c since Linux 5.6
/// made them the same: bytes from the kernel's CSPRNG, here through
/// getrandom(2). Writes are accepted and ignored (the kernel mixes them into
/// its pool without crediting entropy).
public struct RandomDevice: FileOperations {
  /// The /dev/urandom driver.
  public init() {}

  /// Like random_read_iter(): fills the buffer from getrandom(2), through
  /// glibc's getentropy(3) (Swift's Glibc module does not import
  /// <sys/random.h>), which takes at most 256 bytes a call.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
      let n = min(256, buffer.count - done)
      if getentropy(base + done, n) != 0 {
        if errno == EINTR { continue }
        if done > 0 { break }
        throw Errno(errno)
      }
      done += n
    }
    return done
  }

  /// Like random_write_iter(): taken.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { buffer.count }

  /// Poll: always readable and writable, as random_poll() reports once the
  /// pool is ready.
  public func poll(_ file: File, waiter: PollWaiter?) -> PollEvents { .default }
}
