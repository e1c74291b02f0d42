// struct fuse_init_in and struct fuse_init_out: the negotiation. The kernel
// sends its version and the flags it offers; the daemon answers with the minor
// both speak, the flags it takes, and its limits (fuse_lowlevel.c's do_init()).

/// `struct fuse_init_in` (64 bytes since 7.36; 16 before).
public struct FuseInitIn: FuseWireStruct {
  /// 64: sizeof(struct fuse_init_in) since 7.36.
  public static let wireSize = 64
  /// 16: what kernels before 7.36 send (no flags2, no unused words); the decoder accepts it.
  public static let compatSize = 16
  /// The kernel's major version (offset 0).
  public var major: UInt32
  /// The kernel's minor version (offset 4).
  public var minor: UInt32
  /// The kernel's readahead limit in bytes (offset 8).
  public var maxReadahead: UInt32
  /// The flags the kernel offers: `flags` (offset 12) and `flags2` (offset 16, valid with INIT_EXT).
  public var flags: FuseInitFlags

  /// An INIT request body with these fields.
  public init(major: UInt32, minor: UInt32, maxReadahead: UInt32, flags: FuseInitFlags) {
    self.major = major
    self.minor = minor
    self.maxReadahead = maxReadahead
    self.flags = flags
  }

  /// Reads the fields; flags2 is honoured only when INIT_EXT is set (as the kernel
  /// means it), so a 16-byte compat body decodes too.
  public init(wire: FuseWireBytes) {
    major = wire.u32(at: 0)
    minor = wire.u32(at: 4)
    maxReadahead = wire.u32(at: 8)
    let low = wire.u32(at: 12)
    let ext = low & UInt32(truncatingIfNeeded: FuseInitFlags.initExt.rawValue) != 0
    flags = FuseInitFlags(flags: low, flags2: ext ? wire.u32(at: 16) : 0)
  }

  /// Appends the 64 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(major)
    w.u32(minor)
    w.u32(maxReadahead)
    w.u32(flags.flags)
    w.u32(flags.flags2)
    w.zeros(44)  // unused[11]
  }
}

/// `struct fuse_init_out` (64 bytes): the daemon's answer to INIT.
public struct FuseInitOut: FuseWireStruct {
  /// 64: sizeof(struct fuse_init_out).
  public static let wireSize = 64
  /// FUSE_COMPAT_INIT_OUT_SIZE: the reply to a minor before 7.5 (major, minor only).
  public static let compatSize = 8
  /// FUSE_COMPAT_22_INIT_OUT_SIZE: the reply to a minor before 7.23.
  public static let compat22Size = 24
  /// The daemon's major (offset 0); answering a different major asks the kernel to retry.
  public var major: UInt32
  /// The agreed minor (offset 4): the lower of the two.
  public var minor: UInt32
  /// Readahead in bytes (offset 8), at most what the kernel offered.
  public var maxReadahead: UInt32
  /// The flags taken: `flags` (offset 12) and `flags2` (offset 32).
  public var flags: FuseInitFlags
  /// Background requests allowed at once (offset 16, u16).
  public var maxBackground: UInt16
  /// Background requests before the kernel reports congestion (offset 18, u16).
  public var congestionThreshold: UInt16
  /// The largest WRITE payload (offset 20).
  public var maxWrite: UInt32
  /// Timestamp granularity in ns (offset 24).
  public var timeGran: UInt32
  /// Pages per request with MAX_PAGES (offset 28, u16): 256 is 1 MiB.
  public var maxPages: UInt16
  /// DAX map alignment (offset 30, u16).
  public var mapAlignment: UInt16
  /// Stacking depth with PASSTHROUGH (offset 36, 7.40).
  public var maxStackDepth: UInt32
  /// Request timeout in seconds with REQUEST_TIMEOUT (offset 40, u16, 7.43).
  public var requestTimeout: UInt16

  /// An INIT reply with these fields.
  public init(
    major: UInt32 = FuseProtocolVersion.major, minor: UInt32, maxReadahead: UInt32,
    flags: FuseInitFlags, maxBackground: UInt16 = 0, congestionThreshold: UInt16 = 0,
    maxWrite: UInt32, timeGran: UInt32 = 1, maxPages: UInt16 = 0, mapAlignment: UInt16 = 0,
    maxStackDepth: UInt32 = 0, requestTimeout: UInt16 = 0
  ) {
    self.major = major
    self.minor = minor
    self.maxReadahead = maxReadahead
    self.flags = flags
    self.maxBackground = maxBackground
    self.congestionThreshold = congestionThreshold
    self.maxWrite = maxWrite
    self.timeGran = timeGran
    self.maxPages = maxPages
    self.mapAlignment = mapAlignment
    self.maxStackDepth = maxStackDepth
    self.requestTimeout = requestTimeout
  }

  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    major = wire.u32(at: 0)
    minor = wire.u32(at: 4)
    maxReadahead = wire.u32(at: 8)
    flags = FuseInitFlags(flags: wire.u32(at: 12), flags2: wire.u32(at: 32))
    maxBackground = wire.u16(at: 16)
    congestionThreshold = wire.u16(at: 18)
    maxWrite = wire.u32(at: 20)
    timeGran = wire.u32(at: 24)
    maxPages = wire.u16(at: 28)
    mapAlignment = wire.u16(at: 30)
    maxStackDepth = wire.u32(at: 36)
    requestTimeout = wire.u16(at: 40)
  }

  /// Appends the 64 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(major)
    w.u32(minor)
    w.u32(maxReadahead)
    w.u32(flags.flags)
    w.u16(maxBackground)
    w.u16(congestionThreshold)
    w.u32(maxWrite)
    w.u32(timeGran)
    w.u16(maxPages)
    w.u16(mapAlignment)
    w.u32(flags.flags2)
    w.u32(maxStackDepth)
    w.u16(requestTimeout)
    w.zeros(22)  // unused[11]
  }

  /// The reply size for a kernel of minor `kernelMinor`, as do_init() in
  /// fuse_lowlevel.c sizes it: 8 bytes before 7.5, 24 before 7.23, 64 after.
  public static func replySize(kernelMinor: UInt32) -> Int {
    if kernelMinor < 5 { return compatSize }
    if kernelMinor < 23 { return compat22Size }
    return wireSize
  }
}
