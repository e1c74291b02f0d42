// The fixed in-arguments of the common requests (include/uapi/linux/fuse.h),
// each read at its offsets. Names, link targets, xattr values and write data
// that follow some of them are cut out by FuseRequestDecoder.

/// `struct fuse_getattr_in` (16 bytes): GETATTR.
public struct FuseGetattrIn: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// FUSE_GETATTR_FH: `fh` is valid (an fstat).
  public static let flagFH: UInt32 = 1 << 0
  /// FUSE_GETATTR_* flags (offset 0).
  public var getattrFlags: UInt32
  /// The open file when FUSE_GETATTR_FH is set (offset 8).
  public var fh: UInt64
  /// A body with these fields.
  public init(getattrFlags: UInt32, fh: UInt64) {
    self.getattrFlags = getattrFlags
    self.fh = fh
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    getattrFlags = wire.u32(at: 0)
    fh = wire.u64(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(getattrFlags)
    w.zeros(4)
    w.u64(fh)
  }
}

/// The FATTR_* bits of fuse_setattr_in.valid: which fields a SETATTR sets.
public struct FuseSetattrValid: OptionSet, Sendable, Hashable {
  /// The kernel's bits.
  public let rawValue: UInt32
  /// The set with these bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// FATTR_MODE.
  public static let mode = FuseSetattrValid(rawValue: 1 << 0)
  /// FATTR_UID.
  public static let uid = FuseSetattrValid(rawValue: 1 << 1)
  /// FATTR_GID.
  public static let gid = FuseSetattrValid(rawValue: 1 << 2)
  /// FATTR_SIZE.
  public static let size = FuseSetattrValid(rawValue: 1 << 3)
  /// FATTR_ATIME.
  public static let atime = FuseSetattrValid(rawValue: 1 << 4)
  /// FATTR_MTIME.
  public static let mtime = FuseSetattrValid(rawValue: 1 << 5)
  /// FATTR_FH: `fh` is valid.
  public static let fh = FuseSetattrValid(rawValue: 1 << 6)
  /// FATTR_ATIME_NOW.
  public static let atimeNow = FuseSetattrValid(rawValue: 1 << 7)
  /// FATTR_MTIME_NOW.
  public static let mtimeNow = FuseSetattrValid(rawValue: 1 << 8)
  /// FATTR_LOCKOWNER: `lockOwner` is valid.
  public static let lockOwner = FuseSetattrValid(rawValue: 1 << 9)
  /// FATTR_CTIME.
  public static let ctime = FuseSetattrValid(rawValue: 1 << 10)
  /// FATTR_KILL_SUIDGID (7.33): with HANDLE_KILLPRIV_V2, clear suid/sgid.
  public static let killSuidgid = FuseSetattrValid(rawValue: 1 << 11)
}

/// `struct fuse_setattr_in` (88 bytes): SETATTR.
public struct FuseSetattrIn: FuseWireStruct {
  /// 88 bytes.
  public static let wireSize = 88
  /// Which fields are set (offset 0).
  public var valid: FuseSetattrValid
  /// The open file with FATTR_FH (offset 8).
  public var fh: UInt64
  /// New size (offset 16).
  public var size: UInt64
  /// Lock owner with FATTR_LOCKOWNER (offset 24).
  public var lockOwner: UInt64
  /// atime seconds (offset 32).
  public var atime: UInt64
  /// mtime seconds (offset 40).
  public var mtime: UInt64
  /// ctime seconds (offset 48).
  public var ctime: UInt64
  /// atime nanoseconds (offset 56).
  public var atimensec: UInt32
  /// mtime nanoseconds (offset 60).
  public var mtimensec: UInt32
  /// ctime nanoseconds (offset 64).
  public var ctimensec: UInt32
  /// New mode (offset 68).
  public var mode: UInt32
  /// New uid (offset 76).
  public var uid: UInt32
  /// New gid (offset 80).
  public var gid: UInt32
  /// A body with these fields (zero by default).
  public init(
    valid: FuseSetattrValid, fh: UInt64 = 0, size: UInt64 = 0, lockOwner: UInt64 = 0,
    atime: UInt64 = 0, mtime: UInt64 = 0, ctime: UInt64 = 0, atimensec: UInt32 = 0,
    mtimensec: UInt32 = 0, ctimensec: UInt32 = 0, mode: UInt32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
  ) {
    self.valid = valid
    self.fh = fh
    self.size = size
    self.lockOwner = lockOwner
    self.atime = atime
    self.mtime = mtime
    self.ctime = ctime
    self.atimensec = atimensec
    self.mtimensec = mtimensec
    self.ctimensec = ctimensec
    self.mode = mode
    self.uid = uid
    self.gid = gid
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    valid = FuseSetattrValid(rawValue: wire.u32(at: 0))
    fh = wire.u64(at: 8)
    size = wire.u64(at: 16)
    lockOwner = wire.u64(at: 24)
    atime = wire.u64(at: 32)
    mtime = wire.u64(at: 40)
    ctime = wire.u64(at: 48)
    atimensec = wire.u32(at: 56)
    mtimensec = wire.u32(at: 60)
    ctimensec = wire.u32(at: 64)
    mode = wire.u32(at: 68)
    uid = wire.u32(at: 76)
    gid = wire.u32(at: 80)
  }
  /// Appends the 88 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(valid.rawValue)
    w.zeros(4)
    w.u64(fh)
    w.u64(size)
    w.u64(lockOwner)
    w.u64(atime)
    w.u64(mtime)
    w.u64(ctime)
    w.u32(atimensec)
    w.u32(mtimensec)
    w.u32(ctimensec)
    w.u32(mode)
    w.zeros(4)  // unused4
    w.u32(uid)
    w.u32(gid)
    w.zeros(4)  // unused5
  }
}

/// `struct fuse_open_in` (8 bytes): OPEN and OPENDIR.
public struct FuseOpenIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// FUSE_OPEN_KILL_SUIDGID: an O_TRUNC open by a non-owner should clear suid/sgid.
  public static let killSuidgid: UInt32 = 1 << 0
  /// open(2) flags (offset 0).
  public var flags: UInt32
  /// FUSE_OPEN_* flags (offset 4).
  public var openFlags: UInt32
  /// A body with these fields.
  public init(flags: UInt32, openFlags: UInt32 = 0) {
    self.flags = flags
    self.openFlags = openFlags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    flags = wire.u32(at: 0)
    openFlags = wire.u32(at: 4)
  }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(flags)
    w.u32(openFlags)
  }
}

/// `struct fuse_create_in` (16 bytes): CREATE (then a name) and TMPFILE (no name).
public struct FuseCreateIn: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// open(2) flags (offset 0).
  public var flags: UInt32
  /// The new file's mode (offset 4).
  public var mode: UInt32
  /// The caller's umask (offset 8).
  public var umask: UInt32
  /// FUSE_OPEN_* flags (offset 12).
  public var openFlags: UInt32
  /// A body with these fields.
  public init(flags: UInt32, mode: UInt32, umask: UInt32 = 0, openFlags: UInt32 = 0) {
    self.flags = flags
    self.mode = mode
    self.umask = umask
    self.openFlags = openFlags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    flags = wire.u32(at: 0)
    mode = wire.u32(at: 4)
    umask = wire.u32(at: 8)
    openFlags = wire.u32(at: 12)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(flags)
    w.u32(mode)
    w.u32(umask)
    w.u32(openFlags)
  }
}

/// `struct fuse_mknod_in` (16 bytes; 8 before 7.12): MKNOD, then a name.
public struct FuseMknodIn: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// FUSE_COMPAT_MKNOD_IN_SIZE: mode and rdev only (minor < 12).
  public static let compatSize = 8
  /// The node's mode, type included (offset 0).
  public var mode: UInt32
  /// The device number, user-space encoding (offset 4).
  public var rdev: UInt32
  /// The caller's umask (offset 8).
  public var umask: UInt32
  /// A body with these fields.
  public init(mode: UInt32, rdev: UInt32, umask: UInt32 = 0) {
    self.mode = mode
    self.rdev = rdev
    self.umask = umask
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    mode = wire.u32(at: 0)
    rdev = wire.u32(at: 4)
    umask = wire.u32(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(mode)
    w.u32(rdev)
    w.u32(umask)
    w.zeros(4)
  }
}

/// `struct fuse_mkdir_in` (8 bytes): MKDIR, then a name.
public struct FuseMkdirIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// The directory's mode (offset 0).
  public var mode: UInt32
  /// The caller's umask (offset 4).
  public var umask: UInt32
  /// A body with these fields.
  public init(mode: UInt32, umask: UInt32 = 0) {
    self.mode = mode
    self.umask = umask
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    mode = wire.u32(at: 0)
    umask = wire.u32(at: 4)
  }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(mode)
    w.u32(umask)
  }
}

/// `struct fuse_rename2_in` (16 bytes): RENAME2, then two names. (RENAME's
/// fuse_rename_in is its first 8 bytes.)
public struct FuseRename2In: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// sizeof(struct fuse_rename_in): RENAME's body, the new directory only.
  public static let renameInSize = 8
  /// The target directory's node id (offset 0).
  public var newdir: UInt64
  /// RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT (offset 8).
  public var flags: UInt32
  /// A body with these fields.
  public init(newdir: UInt64, flags: UInt32 = 0) {
    self.newdir = newdir
    self.flags = flags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    newdir = wire.u64(at: 0)
    flags = wire.u32(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(newdir)
    w.u32(flags)
    w.zeros(4)
  }
}

/// `struct fuse_link_in` (8 bytes): LINK, then the new name.
public struct FuseLinkIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// The inode to link (offset 0).
  public var oldnodeid: UInt64
  /// A body with this field.
  public init(oldnodeid: UInt64) { self.oldnodeid = oldnodeid }
  /// Reads the field.
  public init(wire: FuseWireBytes) { oldnodeid = wire.u64(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) { w.u64(oldnodeid) }
}

/// `struct fuse_read_in` (40 bytes): READ, READDIR, READDIRPLUS.
public struct FuseReadIn: FuseWireStruct {
  /// 40 bytes.
  public static let wireSize = 40
  /// The open file (offset 0).
  public var fh: UInt64
  /// Where to read (offset 8).
  public var offset: UInt64
  /// How many bytes at most (offset 16).
  public var size: UInt32
  /// FUSE_READ_LOCKOWNER (offset 20).
  public var readFlags: UInt32
  /// The lock owner (offset 24).
  public var lockOwner: UInt64
  /// The file's open flags (offset 32).
  public var flags: UInt32
  /// A body with these fields.
  public init(
    fh: UInt64, offset: UInt64, size: UInt32, readFlags: UInt32 = 0, lockOwner: UInt64 = 0,
    flags: UInt32 = 0
  ) {
    self.fh = fh
    self.offset = offset
    self.size = size
    self.readFlags = readFlags
    self.lockOwner = lockOwner
    self.flags = flags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    offset = wire.u64(at: 8)
    size = wire.u32(at: 16)
    readFlags = wire.u32(at: 20)
    lockOwner = wire.u64(at: 24)
    flags = wire.u32(at: 32)
  }
  /// Appends the 40 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u64(offset)
    w.u32(size)
    w.u32(readFlags)
    w.u64(lockOwner)
    w.u32(flags)
    w.zeros(4)
  }
}

/// `struct fuse_write_in` (40 bytes; 24 before 7.9): WRITE, then `size` bytes of data.
public struct FuseWriteIn: FuseWireStruct {
  /// 40 bytes.
  public static let wireSize = 40
  /// FUSE_COMPAT_WRITE_IN_SIZE (minor < 9).
  public static let compatSize = 24
  /// FUSE_WRITE_CACHE: a writeback-cache write (write_flags).
  public static let flagCache: UInt32 = 1 << 0
  /// FUSE_WRITE_LOCKOWNER: `lockOwner` is valid.
  public static let flagLockOwner: UInt32 = 1 << 1
  /// FUSE_WRITE_KILL_SUIDGID (7.33): clear suid/sgid, as HANDLE_KILLPRIV_V2 asks.
  public static let flagKillSuidgid: UInt32 = 1 << 2
  /// The open file (offset 0).
  public var fh: UInt64
  /// Where to write (offset 8).
  public var offset: UInt64
  /// How many bytes follow (offset 16).
  public var size: UInt32
  /// FUSE_WRITE_* flags (offset 20).
  public var writeFlags: UInt32
  /// The lock owner (offset 24).
  public var lockOwner: UInt64
  /// The file's open flags (offset 32).
  public var flags: UInt32
  /// A body with these fields.
  public init(
    fh: UInt64, offset: UInt64, size: UInt32, writeFlags: UInt32 = 0, lockOwner: UInt64 = 0,
    flags: UInt32 = 0
  ) {
    self.fh = fh
    self.offset = offset
    self.size = size
    self.writeFlags = writeFlags
    self.lockOwner = lockOwner
    self.flags = flags
  }
  /// Reads the fields at their offsets (a 24-byte compat body leaves lockOwner and flags 0).
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    offset = wire.u64(at: 8)
    size = wire.u32(at: 16)
    writeFlags = wire.u32(at: 20)
    lockOwner = wire.u64(at: 24)
    flags = wire.u32(at: 32)
  }
  /// Appends the 40 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u64(offset)
    w.u32(size)
    w.u32(writeFlags)
    w.u64(lockOwner)
    w.u32(flags)
    w.zeros(4)
  }
}

/// `struct fuse_release_in` (24 bytes): RELEASE and RELEASEDIR.
public struct FuseReleaseIn: FuseWireStruct {
  /// 24 bytes.
  public static let wireSize = 24
  /// The open file (offset 0).
  public var fh: UInt64
  /// The file's open flags (offset 8).
  public var flags: UInt32
  /// FUSE_RELEASE_FLUSH / FUSE_RELEASE_FLOCK_UNLOCK (offset 12).
  public var releaseFlags: UInt32
  /// The lock owner (offset 16).
  public var lockOwner: UInt64
  /// A body with these fields.
  public init(fh: UInt64, flags: UInt32 = 0, releaseFlags: UInt32 = 0, lockOwner: UInt64 = 0) {
    self.fh = fh
    self.flags = flags
    self.releaseFlags = releaseFlags
    self.lockOwner = lockOwner
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    flags = wire.u32(at: 8)
    releaseFlags = wire.u32(at: 12)
    lockOwner = wire.u64(at: 16)
  }
  /// Appends the 24 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u32(flags)
    w.u32(releaseFlags)
    w.u64(lockOwner)
  }
}

/// `struct fuse_flush_in` (24 bytes): FLUSH.
public struct FuseFlushIn: FuseWireStruct {
  /// 24 bytes.
  public static let wireSize = 24
  /// The open file (offset 0).
  public var fh: UInt64
  /// The lock owner (offset 16).
  public var lockOwner: UInt64
  /// A body with these fields.
  public init(fh: UInt64, lockOwner: UInt64 = 0) {
    self.fh = fh
    self.lockOwner = lockOwner
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    lockOwner = wire.u64(at: 16)
  }
  /// Appends the 24 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.zeros(8)  // unused, padding
    w.u64(lockOwner)
  }
}

/// `struct fuse_fsync_in` (16 bytes): FSYNC and FSYNCDIR.
public struct FuseFsyncIn: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// FUSE_FSYNC_FDATASYNC: only the data.
  public static let fdatasync: UInt32 = 1 << 0
  /// The open file (offset 0).
  public var fh: UInt64
  /// FUSE_FSYNC_* flags (offset 8).
  public var fsyncFlags: UInt32
  /// A body with these fields.
  public init(fh: UInt64, fsyncFlags: UInt32 = 0) {
    self.fh = fh
    self.fsyncFlags = fsyncFlags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    fsyncFlags = wire.u32(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u32(fsyncFlags)
    w.zeros(4)
  }
}

/// `struct fuse_setxattr_in`: 16 bytes with SETXATTR_EXT (7.33), else the
/// 8-byte FUSE_COMPAT_SETXATTR_IN_SIZE layout; then the name and `size` bytes of value.
public struct FuseSetxattrIn: FuseWireStruct {
  /// 16 bytes (the SETXATTR_EXT layout).
  public static let wireSize = 16
  /// FUSE_COMPAT_SETXATTR_IN_SIZE: size and flags only, without SETXATTR_EXT.
  public static let compatSize = 8
  /// FUSE_SETXATTR_ACL_KILL_SGID: clear sgid when setting a POSIX ACL.
  public static let aclKillSgid: UInt32 = 1 << 0
  /// The value's length (offset 0).
  public var size: UInt32
  /// XATTR_CREATE / XATTR_REPLACE (offset 4).
  public var flags: UInt32
  /// FUSE_SETXATTR_* flags (offset 8; 0 in the compat layout).
  public var setxattrFlags: UInt32
  /// A body with these fields.
  public init(size: UInt32, flags: UInt32 = 0, setxattrFlags: UInt32 = 0) {
    self.size = size
    self.flags = flags
    self.setxattrFlags = setxattrFlags
  }
  /// Reads the fields; an 8-byte compat window leaves setxattrFlags 0.
  public init(wire: FuseWireBytes) {
    size = wire.u32(at: 0)
    flags = wire.u32(at: 4)
    setxattrFlags = wire.u32(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(size)
    w.u32(flags)
    w.u32(setxattrFlags)
    w.zeros(4)
  }
}

/// `struct fuse_getxattr_in` (8 bytes): GETXATTR (then a name) and LISTXATTR.
public struct FuseGetxattrIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// The caller's buffer size; 0 asks for the size only (offset 0).
  public var size: UInt32
  /// A body with this field.
  public init(size: UInt32) { self.size = size }
  /// Reads the field.
  public init(wire: FuseWireBytes) { size = wire.u32(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(size)
    w.zeros(4)
  }
}

/// `struct fuse_access_in` (8 bytes): ACCESS.
public struct FuseAccessIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// R_OK / W_OK / X_OK (offset 0).
  public var mask: UInt32
  /// A body with this field.
  public init(mask: UInt32) { self.mask = mask }
  /// Reads the field.
  public init(wire: FuseWireBytes) { mask = wire.u32(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(mask)
    w.zeros(4)
  }
}

/// `struct fuse_interrupt_in` (8 bytes): INTERRUPT.
public struct FuseInterruptIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// The `unique` of the request to interrupt (offset 0).
  public var unique: UInt64
  /// A body with this field.
  public init(unique: UInt64) { self.unique = unique }
  /// Reads the field.
  public init(wire: FuseWireBytes) { unique = wire.u64(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) { w.u64(unique) }
}

/// `struct fuse_forget_in` (8 bytes): FORGET of the header's node.
public struct FuseForgetIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// How many lookups to drop (offset 0).
  public var nlookup: UInt64
  /// A body with this field.
  public init(nlookup: UInt64) { self.nlookup = nlookup }
  /// Reads the field.
  public init(wire: FuseWireBytes) { nlookup = wire.u64(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) { w.u64(nlookup) }
}

/// `struct fuse_forget_one` (16 bytes): one entry of a BATCH_FORGET.
public struct FuseForgetOne: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// The node (offset 0).
  public var nodeid: UInt64
  /// How many lookups to drop (offset 8).
  public var nlookup: UInt64
  /// An entry with these fields.
  public init(nodeid: UInt64, nlookup: UInt64) {
    self.nodeid = nodeid
    self.nlookup = nlookup
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    nodeid = wire.u64(at: 0)
    nlookup = wire.u64(at: 8)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(nodeid)
    w.u64(nlookup)
  }
}

/// `struct fuse_batch_forget_in` (8 bytes): BATCH_FORGET, then `count` fuse_forget_one.
public struct FuseBatchForgetIn: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// How many entries follow (offset 0).
  public var count: UInt32
  /// A body with this field.
  public init(count: UInt32) { self.count = count }
  /// Reads the field.
  public init(wire: FuseWireBytes) { count = wire.u32(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(count)
    w.zeros(4)
  }
}

/// `struct fuse_fallocate_in` (32 bytes): FALLOCATE.
public struct FuseFallocateIn: FuseWireStruct {
  /// 32 bytes.
  public static let wireSize = 32
  /// The open file (offset 0).
  public var fh: UInt64
  /// Start of the range (offset 8).
  public var offset: UInt64
  /// Length of the range (offset 16).
  public var length: UInt64
  /// FALLOC_FL_* (offset 24).
  public var mode: UInt32
  /// A body with these fields.
  public init(fh: UInt64, offset: UInt64, length: UInt64, mode: UInt32 = 0) {
    self.fh = fh
    self.offset = offset
    self.length = length
    self.mode = mode
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    offset = wire.u64(at: 8)
    length = wire.u64(at: 16)
    mode = wire.u32(at: 24)
  }
  /// Appends the 32 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u64(offset)
    w.u64(length)
    w.u32(mode)
    w.zeros(4)
  }
}

/// `struct fuse_lseek_in` (24 bytes): LSEEK.
public struct FuseLseekIn: FuseWireStruct {
  /// 24 bytes.
  public static let wireSize = 24
  /// The open file (offset 0).
  public var fh: UInt64
  /// The offset to seek from (offset 8).
  public var offset: UInt64
  /// SEEK_DATA / SEEK_HOLE (offset 16).
  public var whence: UInt32
  /// A body with these fields.
  public init(fh: UInt64, offset: UInt64, whence: UInt32) {
    self.fh = fh
    self.offset = offset
    self.whence = whence
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    offset = wire.u64(at: 8)
    whence = wire.u32(at: 16)
  }
  /// Appends the 24 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u64(offset)
    w.u32(whence)
    w.zeros(4)
  }
}

/// `struct fuse_ioctl_in` (32 bytes): IOCTL, then `inSize` bytes of input.
public struct FuseIoctlIn: FuseWireStruct {
  /// 32 bytes.
  public static let wireSize = 32
  /// The open file (offset 0).
  public var fh: UInt64
  /// FUSE_IOCTL_* flags (offset 8).
  public var flags: UInt32
  /// The ioctl command (offset 12).
  public var cmd: UInt32
  /// The argument, a user address or a value (offset 16).
  public var arg: UInt64
  /// Bytes of input that follow (offset 24).
  public var inSize: UInt32
  /// Bytes of output the caller can take (offset 28).
  public var outSize: UInt32
  /// A body with these fields.
  public init(fh: UInt64, flags: UInt32, cmd: UInt32, arg: UInt64, inSize: UInt32, outSize: UInt32)
  {
    self.fh = fh
    self.flags = flags
    self.cmd = cmd
    self.arg = arg
    self.inSize = inSize
    self.outSize = outSize
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    flags = wire.u32(at: 8)
    cmd = wire.u32(at: 12)
    arg = wire.u64(at: 16)
    inSize = wire.u32(at: 24)
    outSize = wire.u32(at: 28)
  }
  /// Appends the 32 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u32(flags)
    w.u32(cmd)
    w.u64(arg)
    w.u32(inSize)
    w.u32(outSize)
  }
}

/// `struct fuse_poll_in` (24 bytes): POLL.
public struct FusePollIn: FuseWireStruct {
  /// 24 bytes.
  public static let wireSize = 24
  /// FUSE_POLL_SCHEDULE_NOTIFY: the kernel wants a wakeup notification.
  public static let scheduleNotify: UInt32 = 1 << 0
  /// The open file (offset 0).
  public var fh: UInt64
  /// The kernel's handle for the wakeup notification (offset 8).
  public var kh: UInt64
  /// FUSE_POLL_* flags (offset 16).
  public var flags: UInt32
  /// The poll events asked for (offset 20).
  public var events: UInt32
  /// A body with these fields.
  public init(fh: UInt64, kh: UInt64, flags: UInt32, events: UInt32) {
    self.fh = fh
    self.kh = kh
    self.flags = flags
    self.events = events
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    kh = wire.u64(at: 8)
    flags = wire.u32(at: 16)
    events = wire.u32(at: 20)
  }
  /// Appends the 24 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u64(kh)
    w.u32(flags)
    w.u32(events)
  }
}

/// `struct fuse_statx_in` (24 bytes, 7.39): STATX.
public struct FuseStatxIn: FuseWireStruct {
  /// 24 bytes.
  public static let wireSize = 24
  /// FUSE_GETATTR_* flags (offset 0).
  public var getattrFlags: UInt32
  /// The open file with FUSE_GETATTR_FH (offset 8).
  public var fh: UInt64
  /// AT_STATX_* sync flags (offset 16).
  public var sxFlags: UInt32
  /// STATX_* fields asked for (offset 20).
  public var sxMask: UInt32
  /// A body with these fields.
  public init(getattrFlags: UInt32, fh: UInt64, sxFlags: UInt32, sxMask: UInt32) {
    self.getattrFlags = getattrFlags
    self.fh = fh
    self.sxFlags = sxFlags
    self.sxMask = sxMask
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    getattrFlags = wire.u32(at: 0)
    fh = wire.u64(at: 8)
    sxFlags = wire.u32(at: 16)
    sxMask = wire.u32(at: 20)
  }
  /// Appends the 24 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(getattrFlags)
    w.zeros(4)
    w.u64(fh)
    w.u32(sxFlags)
    w.u32(sxMask)
  }
}
