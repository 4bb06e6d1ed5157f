# Board definitions, shipped with the host package as myotwitch.boarddefs (see myotwitch.boards).
