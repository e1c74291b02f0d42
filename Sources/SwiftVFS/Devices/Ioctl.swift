import SwiftVFSCore
import SwiftVFSFileSystems

/// ioctl command numbers, like include/uapi/asm-generic/ioctl.h: a command
/// packs a direction, a size, a "magic" type byte and a number, so that the
/// FUSE kernel module (restricted ioctls) knows how many bytes to copy in
/// (`_IOW`), out (`_IOR`) or both (`_IOWR`), and `_IO` passes the argument
/// itself as a number.
///
/// Layout (x86-64, generic): bits 0-7 number, 8-15 type, 16-29 size,
/// 30-31 direction (1 write: user to driver, 2 read: driver to user).
public enum Ioctl {
  /// No data moves (_IOC_NONE).
  public static let none: UInt32 = 0  // _IOC_NONE
  /// User space writes data to the driver (_IOC_WRITE).
  public static let write: UInt32 = 1  // _IOC_WRITE
  /// The driver writes data back to user space (_IOC_READ).
  public static let read: UInt32 = 2  // _IOC_READ

  static let nrShift: UInt32 = 0
  static let typeShift: UInt32 = 8
  static let sizeShift: UInt32 = 16
  static let dirShift: UInt32 = 30
  /// The largest argument size the 14-bit size field holds.
  public static let maxSize: UInt32 = (1 << 14) - 1

  /// _IOC(dir, type, nr, size).
  public static func command(direction: UInt32, type: UInt8, number: UInt8, size: UInt32) -> UInt32
  {
    precondition(direction <= 3 && size <= maxSize, "bad ioctl encoding")
    return direction << dirShift | size << sizeShift | UInt32(type) << typeShift
      | UInt32(number) << nrShift
  }

  /// _IO(type, nr): no data; the argument is a plain number.
  public static func io(_ type: UInt8, _ number: UInt8) -> UInt32 {
    command(direction: none, type: type, number: number, size: 0)
  }

  /// _IOR(type, nr, T): the driver writes `size` bytes back to user space.
  public static func ior(_ type: UInt8, _ number: UInt8, size: UInt32) -> UInt32 {
    command(direction: read, type: type, number: number, size: size)
  }

  /// _IOW(type, nr, T): user space passes `size` bytes in.
  public static func iow(_ type: UInt8, _ number: UInt8, size: UInt32) -> UInt32 {
    command(direction: write, type: type, number: number, size: size)
  }

  /// _IOWR(type, nr, T): both.
  public static func iowr(_ type: UInt8, _ number: UInt8, size: UInt32) -> UInt32 {
    command(direction: read | write, type: type, number: number, size: size)
  }

  /// _IOC_DIR.
  public static func direction(_ command: UInt32) -> UInt32 { command >> dirShift }
  /// _IOC_TYPE.
  public static func type(_ command: UInt32) -> UInt8 {
    UInt8(truncatingIfNeeded: command >> typeShift)
  }
  /// _IOC_NR.
  public static func number(_ command: UInt32) -> UInt8 { UInt8(truncatingIfNeeded: command) }
  /// _IOC_SIZE.
  public static func size(_ command: UInt32) -> UInt32 { (command >> sizeShift) & maxSize }

  /// Reads a native-endian C `int` an `_IOW` command passed in; EFAULT if
  /// fewer bytes came (the kernel's get_user failing).
  public static func int32(from input: UnsafeRawBufferPointer) throws(Errno) -> Int32 {
    guard input.count >= MemoryLayout<Int32>.size else { throw .EFAULT }
    return input.loadUnaligned(as: Int32.self)
  }

  /// The bytes of a C `int` for an `_IOR` command (put_user).
  public static func bytes(of value: Int32) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
  }
}
