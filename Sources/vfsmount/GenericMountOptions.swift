import SwiftVFS

/// The options mount(8) and mount.fuse3 pass to every file system, taken as a
/// kernel file system takes them. mount.fuse3 runs `vfsmount SOURCE DIR -o
/// OPTIONS`, OPTIONS being the fstab or `-o` ones (less user, nofail, auto,
/// _netdev...) plus `dev,suid` unless nodev or nosuid was given.
struct GenericMountOptions {
  /// libfuse 3.14 turns these into mount(2) flags (lib/mount.c, mount_flags[]).
  static let libfuseFlags: Set = [
    "rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async", "dirsync",
    "atime", "noatime",
  ]
  /// Atime flags that libfuse 3.14 rejects: vfsmount applies them itself
  /// (`AtimePolicy`), and as root also to the mount (`applyToMount`).
  static let atimeFlags: Set = [
    "relatime", "norelatime", "strictatime", "nostrictatime", "nodiratime", "diratime",
  ]
  /// Accepted and ignored, as a kernel file system does: `defaults` and
  /// `_netdev` mean nothing to a mount(2) caller; lazytime only delays
  /// timestamp writeback, and memfs writes nothing back.
  static let ignored: Set = ["defaults", "_netdev", "lazytime", "nolazytime"]

  /// Every generic flag given, in order (later ones win, as in mount(8)).
  private(set) var given: [String] = []

  /// Takes `key` if it is a generic option; false if it is not one.
  mutating func add(_ key: String, _ value: String?) throws -> Bool {
    let known =
      GenericMountOptions.libfuseFlags.contains(key) || GenericMountOptions.atimeFlags.contains(key)
      || GenericMountOptions.ignored.contains(key)
    guard known else { return false }
    guard value == nil else { throw MountFailure("option \(key) takes no value") }
    if !GenericMountOptions.ignored.contains(key) {
      // One of a pair replaces the other: "ro,rw" is rw.
      let twin = GenericMountOptions.twin(of: key)
      given.removeAll { $0 == key || $0 == twin }
      given.append(key)
    }
    return true
  }

  static func twin(of key: String) -> String? {
    let pairs = [
      ("ro", "rw"), ("suid", "nosuid"), ("dev", "nodev"), ("exec", "noexec"), ("sync", "async"),
      ("atime", "noatime"), ("relatime", "norelatime"), ("strictatime", "nostrictatime"),
      ("diratime", "nodiratime"),
    ]
    for (a, b) in pairs {
      if key == a { return b }
      if key == b { return a }
    }
    return nil
  }

  var readOnly: Bool { given.contains("ro") }

  /// What libfuse gets, in the order given; noatime only if it stands
  /// (strictatime, which libfuse 3.14 does not pass, overrides it).
  var libfuseOptions: [String] {
    given.filter {
      GenericMountOptions.libfuseFlags.contains($0) && $0 != "atime" && $0 != "noatime"
    }
      + (atimePolicy.noatime ? ["noatime"] : [])
  }

  /// The atime flags asked for, as path_mount() would set them.
  var atimePolicy: AtimePolicy {
    var options = MountOptions()
    for key in given { options.set(key, nil) }
    return AtimePolicy(options: options)
  }

  /// Whether an atime flag beyond what libfuse passes was given.
  var needsAtimeRemount: Bool {
    given.contains { GenericMountOptions.atimeFlags.contains($0) }
  }
}

#if canImport(Glibc)
  import Glibc
#endif

/// The atime flags of the FUSE mount itself, which libfuse 3.14 cannot set.
enum MountAtime {
  /// Sets `policy` on the mount at `path` with a bind remount (as `mount -o
  /// remount,bind,strictatime` does), keeping its other per-mount flags, so
  /// that findmnt shows what the daemon does. Needs CAP_SYS_ADMIN: false
  /// for an unprivileged mount, whose flags then stay relatime.
  static func apply(_ policy: AtimePolicy, to path: String) -> Bool {
    guard let entry = MountTable.entries().last(where: { $0.mountPoint == path }) else {
      return false
    }
    let words = Set(entry.mountOptions.split(separator: ","))
    var flags = UInt(MS_REMOUNT) | UInt(MS_BIND)
    let kept: [(Substring, Int)] = [
      ("ro", MS_RDONLY), ("nosuid", MS_NOSUID), ("nodev", MS_NODEV),
      ("noexec", MS_NOEXEC), ("nosymfollow", MS_NOSYMFOLLOW),
    ]
    for (word, flag) in kept where words.contains(word) { flags |= UInt(flag) }
    // Like path_mount(): noatime, else relatime or strictatime; nodiratime beside.
    if policy.noatime {
      flags |= UInt(MS_NOATIME)
    } else if policy.relatime {
      flags |= UInt(MS_RELATIME)
    } else {
      flags |= UInt(MS_STRICTATIME)
    }
    if policy.nodiratime { flags |= UInt(MS_NODIRATIME) }
    return Glibc.mount(nil, path, nil, flags, nil) == 0
  }

  /// The atime flags the mount at `path` has (mountinfo's field 6).
  static func current(at path: String) -> AtimePolicy? {
    MountTable.entries().last { $0.mountPoint == path }
      .map { AtimePolicy(mountinfoOptions: $0.mountOptions) }
  }
}
