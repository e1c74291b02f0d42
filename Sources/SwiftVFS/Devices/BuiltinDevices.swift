import SwiftVFSCore
import SwiftVFSFileSystems

/// The character devices SwiftVFS brings, registered as a booting kernel's
/// built-in drivers register theirs (their module_init calls), through the
/// same public `ChrdevRegistry` API any program embedding SwiftVFS uses.
///
/// | node            | dev_t       | driver | in              |
/// |-----------------|-------------|--------|-----------------|
/// | null, zero, full, random, urandom | 1:3, 1:5, 1:7, 1:8, 1:9 | mem | Mem.swift |
/// | scull0..scull3  | dynamic:0-3 | scull  | Scull.swift     |
/// | log             | dynamic:0   | log    | LogDevice.swift |
///
/// Dynamic majors are handed out from 254 down, so with these three drivers
/// registered in this order on a fresh VFS, scull gets 254 and log 253;
/// /proc/devices and /proc/vfs/devnodes say so.
public struct BuiltinDevices: Sendable {
  /// The scull driver, registered with the VFS.
  public let scull: Scull
  /// The log driver (like /dev/kmsg), registered with the VFS.
  public let log: LogDevice
  /// The device number of the log device.
  public let logDev: DevT

  /// Registers mem, scull and log, and makes their nodes in the mounted
  /// devtmpfs (if one is mounted: mount it first to get the nodes).
  @discardableResult
  public static func register(in vfs: VFS) throws(Errno) -> BuiltinDevices {
    try MemDevices.register(in: vfs)
    let scull = try Scull.register(in: vfs)
    let (log, logDev) = try LogDevice.register(in: vfs)
    return BuiltinDevices(scull: scull, log: log, logDev: logDev)
  }
}
