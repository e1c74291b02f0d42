// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "HelloFS",
  platforms: [.macOS(.v15)],
  dependencies: [
    // A checkout of SwiftVFS next to this package.
    .package(path: "../SwiftVFS")
  ],
  targets: [
    .target(
      name: "HelloFS",
      dependencies: [.product(name: "SwiftVFS", package: "SwiftVFS")]
    ),
    .testTarget(
      name: "HelloFSTests",
      dependencies: [
        "HelloFS",
        .product(name: "SwiftVFSTesting", package: "SwiftVFS"),
      ]
    ),
  ]
)
