import { render, screen } from '@testing-library/svelte';
import HardwarePanel from './HardwarePanel.svelte';

const GIB = 1024 ** 3;

describe('HardwarePanel', () => {
	it('shows CPU, memory, OS, NPUs and detection errors', () => {
		render(HardwarePanel, {
			hardware: {
				cpu: {
					model: 'Intel Core Ultra 7 155H',
					arch: 'x86_64',
					physicalCores: 16,
					logicalCores: 22,
					flags: ['avx2', 'avx_vnni']
				},
				memory: { totalBytes: 32 * GIB, availableBytes: 20 * GIB },
				os: { system: 'Linux', distro: 'Ubuntu', distroVersion: '24.04', kernel: '6.8.0' },
				npus: [{ vendor: 'intel', name: 'Intel NPU (Meteor Lake)', driver: 'intel_vpu', tops: 11 }],
				errors: ['nvidia: NVML not found']
			}
		});
		const panel = screen.getByTestId('hardware');
		expect(panel).toHaveTextContent('Intel Core Ultra 7 155H');
		expect(panel).toHaveTextContent('16 cores · 22 threads');
		expect(panel).toHaveTextContent('avx2 avx_vnni');
		expect(panel).toHaveTextContent('32 GiB (20 GiB available)');
		expect(panel).toHaveTextContent('Ubuntu 24.04');
		expect(screen.getByTestId('npus')).toHaveTextContent(
			'Intel NPU (Meteor Lake) intel · 11 TOPS · intel_vpu'
		);
		expect(panel).toHaveTextContent('nvidia: NVML not found');
	});

	it('says so before the agent reported', () => {
		render(HardwarePanel, { hardware: null });
		expect(screen.getByText('The agent has not reported hardware yet.')).toBeInTheDocument();
	});
});
