// Whole-cluster simulation, clusters starting with 3 voters (see src/testing/sim_seeds.ts for
// the RAFT_SIM_* environment variables).
import { simulationSuite } from '../testing/sim_seeds.js';

simulationSuite(3);
