// PLACEHOLDER until the cgroups work lands: linux.resources of runtime-spec 1.2.
export const linuxResourcesSchema = { type: 'object' } as const;
