// Dependency-free CRI constants, so `berth` commands can show them without loading the server.
export const DEFAULT_CRI_SOCKET = '/run/berth/cri.sock';
