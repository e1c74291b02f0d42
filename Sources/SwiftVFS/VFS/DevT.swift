/// A device number, as the kernel's `dev_t`: a 12-bit major and a 20-bit minor.
///
/// Linux: include/linux/kdev_t.h (MINORBITS 20, MKDEV, MAJOR, MINOR). The
/// kernel's internal layout is `major << 20 | minor`; user space (stat(2),
/// mknod(2)) sees glibc's 64-bit encoding, which `userEncoding` and
/// `init(userEncoding:)` convert to and from (like new_encode_dev/new_decode_dev
/// and glibc's makedev).
public struct DevT: Hashable, Sendable, Comparable, CustomStringConvertible {
  /// Bits of the minor (MINORBITS).
  public static let minorBits: UInt32 = 20
  /// The minor's bits in the raw value (MINORMASK).
  public static let minorMask: UInt32 = (1 << minorBits) - 1
  /// The largest major: 4095.
  public static let maxMajor: UInt32 = (1 << 12) - 1
  /// The largest minor: 1,048,575.
  public static let maxMinor: UInt32 = minorMask

  /// The kernel's internal value, `major << 20 | minor`.
  public let rawValue: UInt32

  /// A device number from the kernel's internal value.
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// Like MKDEV(); throws EINVAL for a major above 4095 or a minor above 1048575.
  public init(major: UInt32, minor: UInt32) throws(Errno) {
    guard major <= DevT.maxMajor, minor <= DevT.maxMinor else { throw .EINVAL }
    rawValue = major << DevT.minorBits | minor
  }

  /// Device 0:0, the rdev of anything but a device node.
  public static let zero = DevT(rawValue: 0)

  /// The major number (MAJOR()).
  public var major: UInt32 { rawValue >> DevT.minorBits }  // MAJOR()
  /// The minor number (MINOR()).
  public var minor: UInt32 { rawValue & DevT.minorMask }  // MINOR()

  /// glibc's `makedev()` encoding, used by `st_rdev` and `mknod(2)`.
  public var userEncoding: UInt64 {
    let major = UInt64(self.major)
    let minor = UInt64(self.minor)
    return (major & 0xfff) << 8 | (major & ~0xfff) << 32 | (minor & 0xff) | (minor & ~0xff) << 12
  }

  /// Decodes glibc's encoding; a value whose major or minor does not fit the
  /// kernel's 12/20 bits is EINVAL, as mknod(2) answers.
  public init(userEncoding value: UInt64) throws(Errno) {
    let major = (value >> 8) & 0xfff | (value >> 32) & 0xffff_f000
    let minor = value & 0xff | (value >> 12) & 0xffff_ff00
    guard major <= UInt64(DevT.maxMajor), minor <= UInt64(DevT.maxMinor) else { throw .EINVAL }
    try self.init(major: UInt32(major), minor: UInt32(minor))
  }

  /// Parses "MAJOR:MINOR" in decimal, as /sys/dev and /proc/vfs/devnodes write
  /// it; EINVAL if it does not parse or is out of range.
  public init(parsing text: String) throws(Errno) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2, let major = UInt32(parts[0]), let minor = UInt32(parts[1]) else {
      throw .EINVAL
    }
    try self.init(major: major, minor: minor)
  }

  /// Orders by the raw value: by major, then minor.
  public static func < (a: DevT, b: DevT) -> Bool { a.rawValue < b.rawValue }

  /// "MAJ:MIN", e.g. "1:3" for /dev/null (the form of /sys/dev and mountinfo).
  public var description: String { "\(major):\(minor)" }
}
