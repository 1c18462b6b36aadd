import { render, screen, within } from '@testing-library/svelte';
import GpuList from './GpuList.svelte';

const GIB = 1024 ** 3;

describe('GpuList', () => {
	it('shows each GPU with VRAM and the facts present', () => {
		render(GpuList, {
			gpus: [
				{
					index: 0,
					vendor: 'nvidia',
					name: 'NVIDIA H100 80GB HBM3',
					memoryTotalBytes: 80 * GIB,
					architecture: 'Hopper',
					computeCapability: '9.0',
					computeApi: 'CUDA 12.4',
					driverVersion: '550.54.15'
				},
				{
					index: 1,
					vendor: 'apple',
					name: 'Apple M2 Ultra',
					memoryTotalBytes: 192 * GIB,
					unifiedMemory: true
				}
			]
		});
		const [h100, m2] = screen.getAllByTestId('gpu-card');
		expect(within(h100).getByText('NVIDIA H100 80GB HBM3')).toBeInTheDocument();
		expect(within(h100).getByText('80 GiB')).toBeInTheDocument();
		expect(within(h100).getByText('Hopper · 9.0')).toBeInTheDocument();
		expect(within(h100).getByText('CUDA 12.4')).toBeInTheDocument();
		expect(within(m2).getByText('Unified memory')).toBeInTheDocument();
		expect(within(m2).queryByText('Driver')).toBeNull();
	});

	it("shows each GPU's live figures from the last heartbeat, matched by index", () => {
		render(GpuList, {
			gpus: [
				{ index: 0, vendor: 'amd', name: 'AMD Instinct MI300X', memoryTotalBytes: 192 * GIB },
				{ index: 1, vendor: 'amd', name: 'AMD Instinct MI300X', memoryTotalBytes: 192 * GIB }
			],
			telemetry: {
				gpus: [
					{
						index: 1,
						memoryUsedBytes: 64 * GIB,
						utilizationPercent: 87.4,
						temperatureC: 71,
						powerW: 650.2
					}
				]
			},
			telemetryAt: new Date(Date.now() - 20_000).toISOString()
		});
		const [first, second] = screen.getAllByTestId('gpu-card');
		expect(second).toHaveTextContent('64 GiB / 192 GiB');
		expect(second).toHaveTextContent('87%');
		expect(second).toHaveTextContent('71 °C');
		expect(second).toHaveTextContent('650 W');
		expect(first).not.toHaveTextContent('Utilization');
		expect(screen.getByTestId('gpu-live-note')).toHaveTextContent("agent's last heartbeat");
	});

	it('says where live figures come from when a node sends none', () => {
		render(GpuList, {
			gpus: [{ index: 0, vendor: 'nvidia', name: 'NVIDIA L4', memoryTotalBytes: 24 * GIB }]
		});
		expect(screen.getByTestId('gpu-card')).not.toHaveTextContent('Utilization');
		expect(screen.getByTestId('gpu-live-note')).toHaveTextContent('/metrics');
	});

	it('says the node runs on the CPU when it has no GPU', () => {
		render(GpuList, { gpus: [] });
		expect(screen.getByTestId('no-gpus')).toHaveTextContent('No GPU detected');
	});
});
