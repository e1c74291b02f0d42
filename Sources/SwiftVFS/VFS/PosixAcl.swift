/// POSIX access control lists, like the kernel's fs/posix_acl.c: the xattr
/// format (`system.posix_acl_access` and `system.posix_acl_default`), its
/// checks, and the rules that keep an ACL and the mode in step.
///
/// A file system opts in by setting `SuperBlock.posixAcl` (SB_POSIXACL) at
/// mount; the VFS then keeps the ACLs in `Inode.acl` and `Inode.defaultAcl`
/// (i_acl, i_default_acl), as tmpfs does with simple_set_acl(): it serves
/// the two xattr names, applies chmod to the ACL, and gives a new inode the
/// ACL its directory's default ACL implies (else the umask), so the file
/// system itself needs nothing more.
///
/// Invariants: a stored ACL is valid (`validate()`); an access ACL is never
/// one a mode says as well (that is stored as the mode alone); its USER_OBJ,
/// OTHER and MASK (or GROUP_OBJ) entries equal the mode's owner, other and
/// group bits; a default ACL is held only by a directory.
/// Locking: the ACL fields are guarded by the inode's `lock`, like its mode.
public struct PosixAcl: Equatable, Sendable, CustomStringConvertible {
  /// e_tag values (ACL_USER_OBJ ...).
  public enum Tag: UInt16, Sendable {
    /// The owner (ACL_USER_OBJ).
    case userObj = 0x01
    /// A named user (ACL_USER).
    case user = 0x02
    /// The owning group (ACL_GROUP_OBJ).
    case groupObj = 0x04
    /// A named group (ACL_GROUP).
    case group = 0x08
    /// The most that named entries and the group may grant (ACL_MASK).
    case mask = 0x10
    /// Everyone else (ACL_OTHER).
    case other = 0x20
  }

  /// One entry: a tag, rwx bits (ACL_READ 4, ACL_WRITE 2, ACL_EXECUTE 1), and
  /// for USER and GROUP the id.
  public struct Entry: Equatable, Sendable {
    /// Whom the entry is for (e_tag).
    public var tag: Tag
    /// The rwx bits (e_perm).
    public var perm: UInt16
    /// The user or group id for USER and GROUP entries (e_id).
    public var id: UInt32
    /// An entry; `id` only for USER and GROUP.
    public init(_ tag: Tag, _ perm: UInt16, id: UInt32 = PosixAcl.undefinedID) {
      self.tag = tag
      self.perm = perm
      self.id = id
    }
  }

  /// The two ACLs an inode may carry.
  public enum Kind: Sendable {
    /// The access ACL, which checks permissions, or the default ACL a directory passes on.
    case access, `default`

    /// The xattr name that carries it, or nil for another name.
    public init?(xattrName: String) {
      switch xattrName {
      case PosixAcl.accessXattr: self = .access
      case PosixAcl.defaultXattr: self = .default
      default: return nil
      }
    }
  }

  /// The xattr name of the access ACL.
  public static let accessXattr = "system.posix_acl_access"
  /// The xattr name of the default ACL.
  public static let defaultXattr = "system.posix_acl_default"
  /// POSIX_ACL_XATTR_VERSION.
  public static let xattrVersion: UInt32 = 2
  /// ACL_UNDEFINED_ID: the e_id of entries that name no one.
  public static let undefinedID: UInt32 = 0xFFFF_FFFF
  static let headerSize = 4  // posix_acl_xattr_header
  static let entrySize = 8  // posix_acl_xattr_entry

  /// The entries, in the order the xattr gives them.
  public var entries: [Entry]

  /// An ACL of these entries.
  public init(_ entries: [Entry]) { self.entries = entries }

  /// The entries in setfacl's short text form: "user::rw-,group::r--,other::r--".
  public var description: String {
    entries.map { e in
      let who = e.tag == .user || e.tag == .group ? String(e.id) : ""
      let name: String
      switch e.tag {
      case .userObj, .user: name = "user"
      case .groupObj, .group: name = "group"
      case .mask: name = "mask"
      case .other: name = "other"
      }
      let rwx =
        (e.perm & 4 != 0 ? "r" : "-") + (e.perm & 2 != 0 ? "w" : "-")
        + (e.perm & 1 != 0 ? "x" : "-")
      return "\(name):\(who):\(rwx)"
    }.joined(separator: ",")
  }

  // MARK: - The xattr format

  /// Like posix_acl_from_xattr(): little-endian header {a_version u32} then
  /// entries {e_tag u16, e_perm u16, e_id u32}. Nil for a value that holds
  /// no entry (an empty value, or a header alone): that removes the ACL.
  /// A short or ragged value, an unknown tag, or a USER/GROUP entry naming
  /// id -1 is EINVAL; another version is EOPNOTSUPP, as the kernel answers.
  /// The entries' order and perm bits are `validate()`'s to check.
  public static func parse(xattr value: [UInt8]) throws(Errno) -> PosixAcl? {
    if value.isEmpty { return nil }
    guard value.count >= headerSize else { throw .EINVAL }
    guard readU32(value, 0) == xattrVersion else { throw .EOPNOTSUPP }
    guard (value.count - headerSize) % entrySize == 0 else { throw .EINVAL }
    let count = (value.count - headerSize) / entrySize
    if count == 0 { return nil }
    var entries: [Entry] = []
    entries.reserveCapacity(count)
    for i in 0..<count {
      let at = headerSize + i * entrySize
      guard let tag = Tag(rawValue: readU16(value, at)) else { throw .EINVAL }
      let perm = readU16(value, at + 2)
      var id = readU32(value, at + 4)
      switch tag {
      case .user, .group:
        guard id != undefinedID else { throw .EINVAL }  // no valid kuid/kgid
      default:
        id = undefinedID
      }
      entries.append(Entry(tag, perm, id: id))
    }
    return PosixAcl(entries)
  }

  /// Like posix_acl_from_xattr() followed by posix_acl_valid().
  public static func parseValid(xattr value: [UInt8]) throws(Errno) -> PosixAcl? {
    let acl = try parse(xattr: value)
    try acl?.validate()
    return acl
  }

  /// Like posix_acl_to_xattr().
  public var xattr: [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(PosixAcl.headerSize + entries.count * PosixAcl.entrySize)
    PosixAcl.append(&out, PosixAcl.xattrVersion, bytes: 4)
    for e in entries {
      PosixAcl.append(&out, UInt32(e.tag.rawValue), bytes: 2)
      PosixAcl.append(&out, UInt32(e.perm), bytes: 2)
      PosixAcl.append(
        &out, e.tag == .user || e.tag == .group ? e.id : PosixAcl.undefinedID, bytes: 4)
    }
    return out
  }

  private static func readU16(_ v: [UInt8], _ at: Int) -> UInt16 {
    UInt16(v[at]) | UInt16(v[at + 1]) << 8
  }

  private static func readU32(_ v: [UInt8], _ at: Int) -> UInt32 {
    UInt32(v[at]) | UInt32(v[at + 1]) << 8 | UInt32(v[at + 2]) << 16 | UInt32(v[at + 3]) << 24
  }

  private static func append(_ out: inout [UInt8], _ value: UInt32, bytes: Int) {
    for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
  }

  // MARK: - Rules

  /// Like posix_acl_valid(): perm bits within rwx; entries in the order
  /// USER_OBJ, USER..., GROUP_OBJ, GROUP..., MASK, OTHER, each of the four
  /// fixed ones once; a MASK when there is a named entry. (The kernel does
  /// not require named entries sorted by id, nor unique: neither do we.)
  public func validate() throws(Errno) {
    enum State { case userObj, user, group, other, done }
    var state = State.userObj
    var needsMask = false
    for e in entries {
      guard e.perm & ~7 == 0 else { throw .EINVAL }
      switch e.tag {
      case .userObj:
        guard state == .userObj else { throw .EINVAL }
        state = .user
      case .user:
        guard state == .user else { throw .EINVAL }
        needsMask = true
      case .groupObj:
        guard state == .user else { throw .EINVAL }
        state = .group
      case .group:
        guard state == .group else { throw .EINVAL }
        needsMask = true
      case .mask:
        guard state == .group else { throw .EINVAL }
        state = .other
      case .other:
        guard state == .other || (state == .group && !needsMask) else { throw .EINVAL }
        state = .done
      }
    }
    guard state == .done else { throw .EINVAL }
  }

  /// Like posix_acl_equiv_mode(): the permission bits the ACL implies
  /// (the group bits from MASK if there is one), and whether the ACL says
  /// more than a mode can (a MASK or a named entry).
  public var equivalentMode: (permissions: UInt32, equivalent: Bool) {
    var mode: UInt32 = 0
    var equivalent = true
    for e in entries {
      let perm = UInt32(e.perm & 7)
      switch e.tag {
      case .userObj: mode |= perm << 6
      case .groupObj: mode |= perm << 3
      case .other: mode |= perm
      case .mask:
        mode = mode & ~0o070 | perm << 3
        equivalent = false
      case .user, .group: equivalent = false
      }
    }
    return (mode, equivalent)
  }

  /// Like posix_acl_from_mode(): the three-entry ACL a mode says.
  public init(mode: UInt32) {
    self.init([
      Entry(.userObj, UInt16(mode >> 6 & 7)), Entry(.groupObj, UInt16(mode >> 3 & 7)),
      Entry(.other, UInt16(mode & 7)),
    ])
  }

  /// Like __posix_acl_chmod(): the owner and other entries take the mode's
  /// bits, and the MASK (or GROUP_OBJ when there is no mask) its group bits.
  public mutating func chmod(_ mode: UInt32) {
    let groupIndex =
      entries.firstIndex { $0.tag == .mask } ?? entries.firstIndex { $0.tag == .groupObj }
    for i in entries.indices {
      switch entries[i].tag {
      case .userObj: entries[i].perm = UInt16(mode >> 6 & 7)
      case .other: entries[i].perm = UInt16(mode & 7)
      default: break
      }
    }
    if let groupIndex { entries[groupIndex].perm = UInt16(mode >> 3 & 7) }
  }

  /// Like posix_acl_create_masq(): a default ACL becomes a new inode's
  /// access ACL, each of its owner, group (MASK, else GROUP_OBJ) and other
  /// entries cut down to what `mode` asks, and `mode`'s bits cut down to the
  /// ACL's. Returns false when the result says no more than the mode.
  public mutating func createMasq(_ mode: inout UInt32) -> Bool {
    var m = mode
    var equivalent = true
    var groupObj: Int?
    var mask: Int?
    for i in entries.indices {
      switch entries[i].tag {
      case .userObj:
        entries[i].perm &= UInt16(m >> 6 & 7)
        m &= UInt32(entries[i].perm) << 6 | ~0o700
      case .user, .group:
        equivalent = false
      case .groupObj:
        groupObj = i
      case .other:
        entries[i].perm &= UInt16(m & 7)
        m &= UInt32(entries[i].perm) | ~0o007
      case .mask:
        mask = i
        equivalent = false
      }
    }
    if let g = mask ?? groupObj {
      entries[g].perm &= UInt16(m >> 3 & 7)
      m &= UInt32(entries[g].perm) << 3 | ~0o070
    }
    mode &= m | ~0o777
    return !equivalent
  }
}

// MARK: - The VFS side (simple_set_acl, simple_acl_create, posix_acl_chmod)

extension PosixAcl {
  /// The ACLs a new inode starts with, from posix_acl_create().
  public struct Inherited: Sendable {
    /// The access ACL the new inode takes.
    public var access: PosixAcl?
    /// The default ACL the new directory takes.
    public var `default`: PosixAcl?
    /// No ACLs: the mode decides.
    public static let none = Inherited()

    /// Stores them on a new inode (set_cached_acl, as simple_acl_create()).
    public func install(on inode: Inode) {
      guard access != nil || self.default != nil else { return }
      inode.lock.withLock {
        inode.acl = access
        if inode.isDirectory { inode.defaultAcl = self.default }
      }
    }
  }

  /// Like vfs_prepare_mode() and posix_acl_create() together: the mode a new
  /// inode in `dir` gets, and its ACLs. On a superblock without ACLs, or
  /// under a directory with no default ACL, the umask applies; else the
  /// default ACL masks the mode and is inherited (a directory keeps it as
  /// its own default too). Symlinks take neither.
  public static func create(in dir: Inode, mode: UInt32, cred: Cred) -> (UInt32, Inherited) {
    let type = FileType(mode: mode)
    guard type != .symlink else { return (mode, .none) }
    guard dir.sb.posixAcl, let parentDefault = dir.lock.withLock({ dir.defaultAcl }) else {
      return (mode & ~(cred.umask & 0o777), .none)
    }
    var mode = mode
    var access = parentDefault
    let keep = access.createMasq(&mode)
    return (
      mode,
      Inherited(access: keep ? access : nil, default: type == .directory ? parentDefault : nil)
    )
  }

  /// Like posix_acl_chmod(), after a mode change: the access ACL follows.
  /// Caller holds `inode.lock`.
  public static func chmodLocked(_ inode: Inode) {
    guard inode.acl != nil else { return }
    inode.acl!.chmod(inode.mode)
  }

  /// Like simple_set_acl() behind vfs_set_acl(): checks as set_posix_acl()
  /// does, then stores. A default ACL belongs to directories (EACCES, but
  /// removing one from a file succeeds); only the owner or root may set one
  /// (EPERM). Setting an access ACL sets the mode from it, keeps no ACL a mode
  /// says as well, and clears setgid unless the caller is in the file's
  /// group or root (posix_acl_update_mode()). `groups` gives the caller's
  /// supplementary groups; called only if needed.
  public static func set(
    _ inode: Inode, _ kind: Kind, _ acl: PosixAcl?, cred: Cred, groups: () -> [UInt32]
  ) throws(Errno) {
    if kind == .default, !inode.isDirectory {
      if acl == nil { return }
      throw .EACCES
    }
    let (uid, gid, mode) = inode.lock.withLock { (inode.uid, inode.gid, inode.mode) }
    guard cred.isRoot || cred.uid == uid else { throw .EPERM }
    try acl?.validate()
    // In the group, or root (for CAP_FSETID). The groups are read from /proc:
    // only when setgid could go.
    let keepsSetgid =
      kind == .default || mode & ModeBits.setgid == 0 || cred.isRoot || cred.gid == gid
      || groups().contains(gid)
    inode.lock.withLock {
      switch kind {
      case .access:
        var stored = acl
        var mode = inode.mode
        if let acl {
          let (permissions, equivalent) = acl.equivalentMode
          mode = mode & ~0o777 | permissions
          if equivalent { stored = nil }
        }
        if !keepsSetgid { mode &= ~ModeBits.setgid }
        inode.mode = mode
        inode.acl = stored
      case .default:
        inode.defaultAcl = acl
      }
      inode.touchChanged()
    }
  }

  /// The stored ACL as its xattr value; ENODATA when there is none.
  public static func get(_ inode: Inode, _ kind: Kind) throws(Errno) -> [UInt8] {
    let acl = inode.lock.withLock { kind == .access ? inode.acl : inode.defaultAcl }
    guard let acl else { throw .ENODATA }
    return acl.xattr
  }

  /// The ACL names listxattr shows first, as simple_xattr_list() does.
  public static func names(_ inode: Inode) -> [String] {
    inode.lock.withLock {
      (inode.acl != nil ? [accessXattr] : []) + (inode.defaultAcl != nil ? [defaultXattr] : [])
    }
  }

  /// For the consistency checker: the invariants above, one line each.
  public static func check(_ inode: Inode) -> [String] {
    inode.lock.withLock {
      var problems: [String] = []
      let name = "\(inode.sb.fsType.name): inode \(inode.ino)"
      if let acl = inode.acl {
        if (try? acl.validate()) == nil { problems.append("\(name): invalid ACL \(acl)") }
        let (permissions, equivalent) = acl.equivalentMode
        if equivalent { problems.append("\(name): ACL \(acl) kept though the mode says it") }
        if permissions != inode.mode & 0o777 {
          problems.append(
            "\(name): mode 0\(String(inode.mode & 0o777, radix: 8)), ACL \(acl) says 0\(String(permissions, radix: 8))"
          )
        }
      }
      if let acl = inode.defaultAcl {
        if !inode.isDirectory { problems.append("\(name): default ACL on a non-directory") }
        if (try? acl.validate()) == nil { problems.append("\(name): invalid default ACL \(acl)") }
      }
      return problems
    }
  }
}
