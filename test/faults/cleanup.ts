import { ChildServer } from './support';

// A fault test that fails half-way must not leave its server processes running: jest would wait on them.
afterAll(() => ChildServer.killAll());
