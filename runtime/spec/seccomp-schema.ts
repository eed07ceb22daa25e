// PLACEHOLDER until the seccomp work lands: linux.seccomp of runtime-spec 1.2.
export const linuxSeccompSchema = { type: 'object' } as const;
