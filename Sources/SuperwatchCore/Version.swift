/// superwatch's version, printed by `superwatch --version`.
public let superwatchVersion = "0.1.0"
