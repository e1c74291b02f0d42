// The INIT capability flags of include/uapi/linux/fuse.h, both words: `flags`
// (bits 0-31) and, since 7.36 and only when FUSE_INIT_EXT is set, `flags2`
// (bits 32-63). One 64-bit set with a name per bit, so /proc/vfs/connection
// can print every flag agreed, by name.

/// The protocol version this code knows: 7.45 (Linux 6.18's linux/fuse.h).
public enum FuseProtocolVersion {
  /// FUSE_KERNEL_VERSION: the major version, 7 since 2006.
  public static let major: UInt32 = 7
  /// FUSE_KERNEL_MINOR_VERSION of the newest header defined here.
  public static let minor: UInt32 = 45
  /// The oldest minor the engine will agree to (fuse_lowlevel.c refuses < 7.6 too;
  /// 7.12 brings the mknod/create umask layouts the decoder assumes by default).
  public static let oldestMinor: UInt32 = 12
}

/// The INIT flags, `flags | flags2 << 32` (FUSE_ASYNC_READ ... FUSE_REQUEST_TIMEOUT).
public struct FuseInitFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
  /// Bit n is the kernel's `1ULL << n`.
  public let rawValue: UInt64
  /// The set with these bits.
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  /// The set from the two words of fuse_init_in / fuse_init_out.
  public init(flags: UInt32, flags2: UInt32) {
    rawValue = UInt64(flags) | UInt64(flags2) << 32
  }
  /// The low word, `flags`.
  public var flags: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
  /// The high word, `flags2` (meaningful only with `.initExt`).
  public var flags2: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }

  /// FUSE_ASYNC_READ: asynchronous read requests.
  public static let asyncRead = FuseInitFlags(rawValue: 1 << 0)
  /// FUSE_POSIX_LOCKS: remote POSIX locks.
  public static let posixLocks = FuseInitFlags(rawValue: 1 << 1)
  /// FUSE_FILE_OPS: kernel sends file handles with fstat etc.
  public static let fileOps = FuseInitFlags(rawValue: 1 << 2)
  /// FUSE_ATOMIC_O_TRUNC: O_TRUNC handled in open.
  public static let atomicOTrunc = FuseInitFlags(rawValue: 1 << 3)
  /// FUSE_EXPORT_SUPPORT: lookups of "." and "..".
  public static let exportSupport = FuseInitFlags(rawValue: 1 << 4)
  /// FUSE_BIG_WRITES: writes larger than 4 KiB.
  public static let bigWrites = FuseInitFlags(rawValue: 1 << 5)
  /// FUSE_DONT_MASK: the kernel does not apply the umask to create modes.
  public static let dontMask = FuseInitFlags(rawValue: 1 << 6)
  /// FUSE_SPLICE_WRITE: the daemon may splice replies.
  public static let spliceWrite = FuseInitFlags(rawValue: 1 << 7)
  /// FUSE_SPLICE_MOVE: the daemon may move pages when splicing.
  public static let spliceMove = FuseInitFlags(rawValue: 1 << 8)
  /// FUSE_SPLICE_READ: the daemon may splice requests.
  public static let spliceRead = FuseInitFlags(rawValue: 1 << 9)
  /// FUSE_FLOCK_LOCKS: remote flock locks.
  public static let flockLocks = FuseInitFlags(rawValue: 1 << 10)
  /// FUSE_HAS_IOCTL_DIR: ioctl on directories.
  public static let hasIoctlDir = FuseInitFlags(rawValue: 1 << 11)
  /// FUSE_AUTO_INVAL_DATA: page cache invalidated when mtime/size change.
  public static let autoInvalData = FuseInitFlags(rawValue: 1 << 12)
  /// FUSE_DO_READDIRPLUS: READDIRPLUS.
  public static let doReaddirplus = FuseInitFlags(rawValue: 1 << 13)
  /// FUSE_READDIRPLUS_AUTO: the kernel picks READDIR or READDIRPLUS adaptively.
  public static let readdirplusAuto = FuseInitFlags(rawValue: 1 << 14)
  /// FUSE_ASYNC_DIO: asynchronous direct I/O.
  public static let asyncDio = FuseInitFlags(rawValue: 1 << 15)
  /// FUSE_WRITEBACK_CACHE: the kernel caches writes.
  public static let writebackCache = FuseInitFlags(rawValue: 1 << 16)
  /// FUSE_NO_OPEN_SUPPORT: ENOSYS to OPEN means "no open needed".
  public static let noOpenSupport = FuseInitFlags(rawValue: 1 << 17)
  /// FUSE_PARALLEL_DIROPS: lookups and readdirs of one directory in parallel.
  public static let parallelDirops = FuseInitFlags(rawValue: 1 << 18)
  /// FUSE_HANDLE_KILLPRIV: the daemon kills suid/sgid (v1 semantics).
  public static let handleKillpriv = FuseInitFlags(rawValue: 1 << 19)
  /// FUSE_POSIX_ACL: the kernel enforces POSIX ACLs.
  public static let posixACL = FuseInitFlags(rawValue: 1 << 20)
  /// FUSE_ABORT_ERROR: ECONNABORTED instead of ENOTCONN after an abort.
  public static let abortError = FuseInitFlags(rawValue: 1 << 21)
  /// FUSE_MAX_PAGES: init_out.max_pages is valid.
  public static let maxPages = FuseInitFlags(rawValue: 1 << 22)
  /// FUSE_CACHE_SYMLINKS: the kernel caches readlink results.
  public static let cacheSymlinks = FuseInitFlags(rawValue: 1 << 23)
  /// FUSE_NO_OPENDIR_SUPPORT: ENOSYS to OPENDIR means "no opendir needed".
  public static let noOpendirSupport = FuseInitFlags(rawValue: 1 << 24)
  /// FUSE_EXPLICIT_INVAL_DATA: only the daemon invalidates cached pages.
  public static let explicitInvalData = FuseInitFlags(rawValue: 1 << 25)
  /// FUSE_MAP_ALIGNMENT: init_out.map_alignment is valid (DAX).
  public static let mapAlignment = FuseInitFlags(rawValue: 1 << 26)
  /// FUSE_SUBMOUNTS: automount submounts (FUSE_ATTR_SUBMOUNT).
  public static let submounts = FuseInitFlags(rawValue: 1 << 27)
  /// FUSE_HANDLE_KILLPRIV_V2: the daemon kills suid/sgid/caps on write, truncate, chown; gives SB_NOSEC.
  public static let handleKillprivV2 = FuseInitFlags(rawValue: 1 << 28)
  /// FUSE_SETXATTR_EXT: the extended fuse_setxattr_in (16 bytes).
  public static let setxattrExt = FuseInitFlags(rawValue: 1 << 29)
  /// FUSE_INIT_EXT: flags2 is valid.
  public static let initExt = FuseInitFlags(rawValue: 1 << 30)
  /// FUSE_INIT_RESERVED: reserved, never set.
  public static let initReserved = FuseInitFlags(rawValue: 1 << 31)
  /// FUSE_SECURITY_CTX (7.36): a security context extension on creates.
  public static let securityCtx = FuseInitFlags(rawValue: 1 << 32)
  /// FUSE_HAS_INODE_DAX (7.36): per-inode DAX.
  public static let hasInodeDax = FuseInitFlags(rawValue: 1 << 33)
  /// FUSE_CREATE_SUPP_GROUP (7.38): the supplementary group extension on creates.
  public static let createSuppGroup = FuseInitFlags(rawValue: 1 << 34)
  /// FUSE_HAS_EXPIRE_ONLY (7.38): FUSE_EXPIRE_ONLY in entry invalidation.
  public static let hasExpireOnly = FuseInitFlags(rawValue: 1 << 35)
  /// FUSE_DIRECT_IO_ALLOW_MMAP (7.39): shared mmap of FOPEN_DIRECT_IO files.
  public static let directIOAllowMmap = FuseInitFlags(rawValue: 1 << 36)
  /// FUSE_PASSTHROUGH (7.40): reads and writes passed to a backing file.
  public static let passthrough = FuseInitFlags(rawValue: 1 << 37)
  /// FUSE_NO_EXPORT_SUPPORT (7.40): refuse NFS export of the mount.
  public static let noExportSupport = FuseInitFlags(rawValue: 1 << 38)
  /// FUSE_HAS_RESEND (7.40): the kernel can resend pending requests (FUSE_NOTIFY_RESEND).
  public static let hasResend = FuseInitFlags(rawValue: 1 << 39)
  /// FUSE_ALLOW_IDMAP (7.41): idmapped mounts.
  public static let allowIdmap = FuseInitFlags(rawValue: 1 << 40)
  /// FUSE_OVER_IO_URING (7.42): requests over io_uring.
  public static let overIOUring = FuseInitFlags(rawValue: 1 << 41)
  /// FUSE_REQUEST_TIMEOUT (7.43): init_out.request_timeout is valid.
  public static let requestTimeout = FuseInitFlags(rawValue: 1 << 42)

  /// Every named flag with the kernel's name, in bit order.
  public static let named: [(flag: FuseInitFlags, name: String)] = [
    (.asyncRead, "ASYNC_READ"), (.posixLocks, "POSIX_LOCKS"), (.fileOps, "FILE_OPS"),
    (.atomicOTrunc, "ATOMIC_O_TRUNC"), (.exportSupport, "EXPORT_SUPPORT"),
    (.bigWrites, "BIG_WRITES"), (.dontMask, "DONT_MASK"), (.spliceWrite, "SPLICE_WRITE"),
    (.spliceMove, "SPLICE_MOVE"), (.spliceRead, "SPLICE_READ"), (.flockLocks, "FLOCK_LOCKS"),
    (.hasIoctlDir, "HAS_IOCTL_DIR"), (.autoInvalData, "AUTO_INVAL_DATA"),
    (.doReaddirplus, "DO_READDIRPLUS"), (.readdirplusAuto, "READDIRPLUS_AUTO"),
    (.asyncDio, "ASYNC_DIO"), (.writebackCache, "WRITEBACK_CACHE"),
    (.noOpenSupport, "NO_OPEN_SUPPORT"), (.parallelDirops, "PARALLEL_DIROPS"),
    (.handleKillpriv, "HANDLE_KILLPRIV"), (.posixACL, "POSIX_ACL"), (.abortError, "ABORT_ERROR"),
    (.maxPages, "MAX_PAGES"), (.cacheSymlinks, "CACHE_SYMLINKS"),
    (.noOpendirSupport, "NO_OPENDIR_SUPPORT"), (.explicitInvalData, "EXPLICIT_INVAL_DATA"),
    (.mapAlignment, "MAP_ALIGNMENT"), (.submounts, "SUBMOUNTS"),
    (.handleKillprivV2, "HANDLE_KILLPRIV_V2"), (.setxattrExt, "SETXATTR_EXT"),
    (.initExt, "INIT_EXT"), (.initReserved, "INIT_RESERVED"), (.securityCtx, "SECURITY_CTX"),
    (.hasInodeDax, "HAS_INODE_DAX"), (.createSuppGroup, "CREATE_SUPP_GROUP"),
    (.hasExpireOnly, "HAS_EXPIRE_ONLY"), (.directIOAllowMmap, "DIRECT_IO_ALLOW_MMAP"),
    (.passthrough, "PASSTHROUGH"), (.noExportSupport, "NO_EXPORT_SUPPORT"),
    (.hasResend, "HAS_RESEND"), (.allowIdmap, "ALLOW_IDMAP"), (.overIOUring, "OVER_IO_URING"),
    (.requestTimeout, "REQUEST_TIMEOUT"),
  ]

  /// The names of the flags set, in bit order; an unnamed bit n shows as "bit n".
  public var names: [String] {
    var out: [String] = []
    for bit in 0..<64 where rawValue & (1 << UInt64(bit)) != 0 {
      let flag = FuseInitFlags(rawValue: 1 << UInt64(bit))
      out.append(Self.named.first { $0.flag == flag }?.name ?? "bit \(bit)")
    }
    return out
  }

  /// The names joined with spaces, e.g. "ASYNC_READ POSIX_LOCKS".
  public var description: String { names.joined(separator: " ") }
}
