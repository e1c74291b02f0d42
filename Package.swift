// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "SwiftVFS",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "SwiftVFS", targets: ["SwiftVFS"]),
    .executable(name: "vfsmount", targets: ["vfsmount"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
  ],
  targets: [
    // libfuse3 through pkg-config; the shim header sets FUSE_USE_VERSION and
    // wraps the few calls that are macros Swift cannot import.
    .systemLibrary(
      name: "CFuse",
      pkgConfig: "fuse3",
      providers: [.apt(["libfuse3-dev"])]
    ),
    .target(
      name: "SwiftVFS",
      dependencies: ["CFuse", .product(name: "Logging", package: "swift-log")]
    ),
    .executableTarget(
      name: "vfsmount",
      dependencies: [
        "SwiftVFS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // The benchmark: the same workloads on vfsmount and on a kernel tmpfs,
    // with ratios, JSON and a chart; plus micro benchmarks of the VFS core.
    .executableTarget(
      name: "vfsbench",
      dependencies: [
        "SwiftVFS",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    // The smallest file system written with SwiftVFS (README: "Write your own").
    .executableTarget(
      name: "hellofs",
      dependencies: ["SwiftVFS"],
      path: "Examples/hellofs"
    ),
    // A file system with real latency (README: "Async file systems"): reading
    // `slow` waits in the backend while everything else answers at once.
    .executableTarget(
      name: "slowfs",
      dependencies: ["SwiftVFS"],
      path: "Examples/slowfs"
    ),
    // Runs a list of file operations as another uid/gid and prints one errno
    // name per operation: the mount tests use it for permission cases.
    .executableTarget(name: "vfsprobe"),
    .testTarget(
      name: "SwiftVFSTests",
      dependencies: ["SwiftVFS", .product(name: "Logging", package: "swift-log")]
    ),
    .testTarget(
      name: "MountTests",
      dependencies: ["vfsmount", "vfsprobe", "hellofs", "slowfs", "SwiftVFS"]
    ),
  ]
)
