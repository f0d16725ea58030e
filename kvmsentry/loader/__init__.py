"""Program loading: ELF parsing and the initial process stack."""
